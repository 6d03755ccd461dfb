import { describe, expect } from 'vitest';
import { any, expectEqual, expectStatus, is2xx, MANIFEST_TYPE, oneOf, type SuiteKit } from './kit.js';
import { PULL } from './setup.js';

/** Pull: the setup pushes, then pulls by tag and digest, HEADs, and misses. */
export function definePullSpecs(kit: SuiteKit): void {
  const {
    config,
    data,
    client,
    specify,
    skipIfDisabled,
    runOnlyIf,
    runOnlyIfNot,
    pushBlob,
    putManifest,
    deleteManifest,
    deleteBlob,
  } = kit;
  const { configs, manifests } = data;
  describe.sequential('Pull', () => {
    let tag = '';

    describe.sequential('Setup', () => {
      specify('Populate registry with test blob', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        await pushBlob(configs[0]!.digest, configs[0]!.contentLength, configs[0]!.content);
      });

      specify('Populate registry with test blob', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        await pushBlob(configs[1]!.digest, configs[1]!.contentLength, configs[1]!.content);
      });

      specify('Populate registry with test layer', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        await pushBlob(data.layerBlobDigest, data.layerBlobContentLength, data.layerBlobData);
      });

      specify('Populate registry with test manifest', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        tag = 'tagtest0';
        const resp = await client.do(putManifest(tag, manifests[0]!.content));
        expectStatus(resp, is2xx, '2xx');
      });

      specify('Populate registry with test manifest', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        const resp = await client.do(putManifest(manifests[1]!.digest, manifests[1]!.content));
        expectStatus(resp, is2xx, '2xx');
      });

      specify('Get tag name from environment', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIfNot(ctx, config.runPullSetup);
        if (config.tagName !== '') tag = config.tagName;
      });
    });

    describe.sequential('Pull blobs', () => {
      specify('HEAD request to nonexistent blob should result in 404 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: data.dummyDigest }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('HEAD request to existing blob should yield 200', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('HEAD', '/v2/<name>/blobs/<digest>', { digest: configs[0]!.digest }),
        );
        expectStatus(resp, oneOf(200), '200');
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') expectEqual(h, configs[0]!.digest, 'Docker-Content-Digest', resp);
      });

      specify('GET nonexistent blob should result in 404 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: data.dummyDigest }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('GET request to existing blob URL should yield 200', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[0]!.digest }),
        );
        expectStatus(resp, oneOf(200), '200');
      });
    });

    describe.sequential('Pull manifests', () => {
      const headManifest = (digest: string) =>
        client.do(
          client
            .newRequest('HEAD', '/v2/<name>/manifests/<digest>', { digest })
            .setHeader('Accept', MANIFEST_TYPE),
        );
      const getManifest = (digest: string) =>
        client.do(
          client
            .newRequest('GET', '/v2/<name>/manifests/<digest>', { digest })
            .setHeader('Accept', MANIFEST_TYPE),
        );

      specify('HEAD request to nonexistent manifest should return 404', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('HEAD', '/v2/<name>/manifests/<reference>', {
            reference: data.nonexistentManifest,
          }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('HEAD request to manifest[0] path (digest) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await headManifest(manifests[0]!.digest);
        expectStatus(resp, oneOf(200), '200');
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') expectEqual(h, manifests[0]!.digest, 'Docker-Content-Digest', resp);
      });

      specify('HEAD request to manifest[1] path (digest) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await headManifest(manifests[1]!.digest);
        expectStatus(resp, oneOf(200), '200');
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') expectEqual(h, manifests[1]!.digest, 'Docker-Content-Digest', resp);
      });

      specify('HEAD request to manifest path (tag) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        expect(tag, 'tag').not.toBe('');
        const resp = await client.do(
          client
            .newRequest('HEAD', '/v2/<name>/manifests/<reference>', { reference: tag })
            .setHeader('Accept', MANIFEST_TYPE),
        );
        expectStatus(resp, oneOf(200), '200');
        const h = resp.header('Docker-Content-Digest');
        if (h !== '') expectEqual(h, manifests[0]!.digest, 'Docker-Content-Digest', resp);
      });

      specify('GET nonexistent manifest should return 404', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/manifests/<reference>', {
            reference: data.nonexistentManifest,
          }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('GET request to manifest[0] path (digest) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        expectStatus(await getManifest(manifests[0]!.digest), oneOf(200), '200');
      });

      specify('GET request to manifest[1] path (digest) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        expectStatus(await getManifest(manifests[1]!.digest), oneOf(200), '200');
      });

      specify('GET request to manifest path (tag) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        expect(tag, 'tag').not.toBe('');
        const resp = await client.do(
          client
            .newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: tag })
            .setHeader('Accept', MANIFEST_TYPE),
        );
        expectStatus(resp, oneOf(200), '200');
      });
    });

    describe.sequential('Error codes', () => {
      specify('400 response body should contain OCI-conforming JSON message', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        const resp = await client.do(
          client
            .newRequest('GET', '/v2/<name>/manifests/<reference>', { reference: 'sha256:totallywrong' })
            .setHeader('Content-Type', MANIFEST_TYPE)
            .setBody(data.invalidManifestContent),
        );
        expectStatus(resp, oneOf(400, 404), '400 or 404');
        if (resp.statusCode() === 400) {
          const { errors, error } = resp.errors();
          expect(error, `resp.Errors()\n${resp.describe()}`).toBeUndefined();
          expect(errors.length, 'errors').toBeGreaterThan(0);
          expect(data.errorCodes, `errors[0].code\n${resp.describe()}`).toContain(errors[0]!.code);
        }
      });
    });

    describe.sequential('Teardown', () => {
      const manifestDeletes = () => {
        specify('Delete manifest[0] created in setup', async (ctx) => {
          skipIfDisabled(ctx, PULL);
          runOnlyIf(ctx, config.runPullSetup);
          expectStatus(await deleteManifest(manifests[0]!.digest), any(is2xx, oneOf(405)), '2xx or 405');
        });
        specify('Delete manifest[1] created in setup', async (ctx) => {
          skipIfDisabled(ctx, PULL);
          runOnlyIf(ctx, config.runPullSetup);
          expectStatus(await deleteManifest(manifests[1]!.digest), any(is2xx, oneOf(405)), '2xx or 405');
        });
      };

      if (config.deleteManifestBeforeBlobs) manifestDeletes();

      specify('Delete config[0] blob created in setup', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        expectStatus(await deleteBlob(configs[0]!.digest), any(is2xx, oneOf(404, 405)), '2xx, 404 or 405');
      });
      specify('Delete config[1] blob created in setup', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        expectStatus(await deleteBlob(configs[1]!.digest), any(is2xx, oneOf(404, 405)), '2xx, 404 or 405');
      });
      specify('Delete layer blob created in setup', async (ctx) => {
        skipIfDisabled(ctx, PULL);
        runOnlyIf(ctx, config.runPullSetup);
        expectStatus(await deleteBlob(data.layerBlobDigest), any(is2xx, oneOf(404, 405)), '2xx, 404 or 405');
      });

      if (!config.deleteManifestBeforeBlobs) manifestDeletes();
    });
  });
}
