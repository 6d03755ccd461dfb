import { describe, expect } from 'vitest';
import type { GoResponse } from './goclient.js';
import { type GoTagList, goUnmarshal, TAG_LIST } from './gojson.js';
import { expectEqual, expectStatus, is2xx, oneOf, type SuiteKit } from './kit.js';
import { CONTENT_MANAGEMENT } from './setup.js';

/** Content Management: deleting tags, manifests and blobs. */
export function defineManagementSpecs(kit: SuiteKit): void {
  const {
    config,
    data,
    client,
    specify,
    skipIfDisabled,
    runOnlyIf,
    pushBlob,
    putManifest,
    deleteManifest,
    deleteBlob,
  } = kit;
  const { configs, manifests } = data;
  describe.sequential('Content Management', () => {
    const defaultTagName = 'tagtest0';
    let tagToDelete = '';
    let numTags = 0;
    let blobDeleteAllowed = true;

    const decodeTags = (resp: GoResponse): GoTagList => {
      const decoded = goUnmarshal<GoTagList>(resp.string(), TAG_LIST);
      expect(decoded.error, `json.Unmarshal into TagList\n${resp.describe()}`).toBeUndefined();
      return decoded.value;
    };

    describe.sequential('Setup', () => {
      specify('Populate registry with test config blob', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        await pushBlob(configs[3]!.digest, configs[3]!.contentLength, configs[3]!.content);
      });

      specify('Populate registry with test layer', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        await pushBlob(data.layerBlobDigest, data.layerBlobContentLength, data.layerBlobData);
      });

      specify('Populate registry with test tag', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        tagToDelete = defaultTagName;
        const resp = await client.do(putManifest(tagToDelete, manifests[3]!.content));
        expectStatus(resp, is2xx, '2xx');
      });

      specify('Check how many tags there are before anything gets deleted', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, oneOf(200), '200');
        numTags = (decodeTags(resp).tags ?? []).length;
      });
    });

    describe.sequential('Manifest delete', () => {
      specify(
        'DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)',
        async (ctx) => {
          skipIfDisabled(ctx, CONTENT_MANAGEMENT);
          const resp = await client.do(
            client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference: tagToDelete }),
          );
          expectStatus(resp, oneOf(400, 202, 405), '400, 202 or 405');
          if (resp.statusCode() === 400) {
            const { errors, error } = resp.errors();
            expect(error, `resp.Errors()\n${resp.describe()}`).toBeUndefined();
            expect(errors.length, 'errors').toBeGreaterThan(0);
            expectEqual(errors[0]!.code, data.errorCodes[19], 'errors[0].code', resp);
          }
        },
      );

      specify(
        'DELETE request to manifest (digest) should yield 202 response unless already deleted',
        async (ctx) => {
          skipIfDisabled(ctx, CONTENT_MANAGEMENT);
          // In the case that the previous request was accepted, this may or may not fail (which is ok)
          expectStatus(await deleteManifest(manifests[3]!.digest), oneOf(202, 404), '202 or 404');
        },
      );

      specify(
        'GET request to deleted manifest URL should yield 404 response, unless delete is disallowed',
        async (ctx) => {
          skipIfDisabled(ctx, CONTENT_MANAGEMENT);
          const resp = await client.do(
            client.newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[3]!.digest }),
          );
          expectStatus(resp, oneOf(404, 200), '404 or 200');
        },
      );

      specify('GET request to tags list should reflect manifest deletion', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, oneOf(200), '200');
        const tags = decodeTags(resp).tags ?? [];
        expect(tags.length, `number of tags (was ${numTags})\n${resp.describe()}`).toBeLessThan(numTags);
      });
    });

    describe.sequential('Blob delete', () => {
      specify('DELETE request to blob URL should yield 202 response', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        // config blob
        expectStatus(await deleteBlob(configs[3]!.digest), oneOf(202, 404, 405), '202, 404 or 405');
        // layer blob
        const resp = await deleteBlob(data.layerBlobDigest);
        expectStatus(resp, oneOf(202, 404, 405), '202, 404 or 405');
        if (resp.statusCode() === 405) blobDeleteAllowed = false;
      });

      specify('GET request to deleted blob URL should yield 404 response', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_MANAGEMENT);
        runOnlyIf(ctx, config.runContentManagementSetup);
        runOnlyIf(ctx, blobDeleteAllowed);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[3]!.digest }),
        );
        expectStatus(resp, oneOf(404), '404');
      });
    });

    // (Go's empty "Teardown" context has no specs; vitest rejects an empty describe.)
  });
}
