import { describe, expect } from 'vitest';
import type { GoResponse } from './goclient.js';
import { type GoIndex, goUnmarshal, INDEX } from './gojson.js';
import {
  ARTIFACT_TYPE_FILTER,
  any,
  expectEqual,
  expectStatus,
  getTagList,
  INDEX_TYPE,
  is2xx,
  MANIFEST_TYPE,
  oneOf,
  type SuiteKit,
  warn,
} from './kit.js';
import { ANNOTATION_KEY, CONTENT_DISCOVERY } from './setup.js';

/** Content Discovery: tag listing with pagination, and the referrers API. */
export function defineDiscoverySpecs(kit: SuiteKit): void {
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
  describe.sequential('Content Discovery', () => {
    let numTags = 4;
    let tagList: string[] = [];

    const expectIndexHeaders = (resp: GoResponse): GoIndex => {
      expectStatus(resp, oneOf(200), '200');
      expectEqual(resp.header('Content-Type'), INDEX_TYPE, 'Content-Type', resp);
      const decoded = goUnmarshal<GoIndex>(resp.body(), INDEX);
      expect(decoded.error, `json.Unmarshal into index\n${resp.describe()}`).toBeUndefined();
      return decoded.value;
    };
    const expectAnnotations = (index: GoIndex, resp: GoResponse): void => {
      for (const descriptor of index.manifests ?? []) {
        const annotations = descriptor.annotations ?? {};
        expect(
          Object.keys(annotations).length,
          `annotations of ${descriptor.digest}\n${resp.describe()}`,
        ).toBe(1);
        expectEqual(
          annotations[ANNOTATION_KEY] ?? '',
          data.testAnnotationValues.get(descriptor.digest) ?? '',
          `annotation of ${descriptor.digest}`,
          resp,
        );
      }
    };

    describe.sequential('Setup', () => {
      specify('Populate registry with test blob', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        await pushBlob(configs[2]!.digest, configs[2]!.contentLength, configs[2]!.content);
      });

      specify('Populate registry with test layer', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        await pushBlob(data.layerBlobDigest, data.layerBlobContentLength, data.layerBlobData);
      });

      specify('Populate registry with test tags', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        for (let i = 0; i < numTags; i++) {
          const tag = `test${i}`;
          tagList.push(tag);
          const resp = await client.do(putManifest(tag, manifests[2]!.content));
          expectStatus(resp, is2xx, '2xx');
        }
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        tagList = getTagList(resp);
      });

      specify('Populate registry with test tags (no push)', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIfNot(ctx, config.runContentDiscoverySetup);
        tagList = config.tagList.split(',');
      });

      specify('References setup', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);

        expectEqual(
          data.emptyJSONDescriptor.digest,
          'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
          'empty JSON digest',
        );
        await pushBlob(
          data.emptyJSONDescriptor.digest,
          String(data.emptyJSONDescriptor.size),
          data.emptyJSONBlob,
        );
        await pushBlob(data.testRefBlobADigest, data.testRefBlobALength, data.testRefBlobA);

        const pushReferrer = async (
          digest: string,
          content: Uint8Array,
          subject: string,
          contentType = MANIFEST_TYPE,
        ): Promise<void> => {
          const resp = await client.do(putManifest(digest, content, contentType));
          expectStatus(resp, is2xx, '2xx');
          expectEqual(resp.header('OCI-Subject'), subject, 'OCI-Subject', resp);
        };

        await pushReferrer(
          data.refsManifestAConfigArtifactDigest,
          data.refsManifestAConfigArtifactContent,
          manifests[4]!.digest,
        );
        await pushReferrer(
          data.refsManifestALayerArtifactDigest,
          data.refsManifestALayerArtifactContent,
          manifests[4]!.digest,
        );
        await pushReferrer(
          data.refsIndexArtifactDigest,
          data.refsIndexArtifactContent,
          manifests[4]!.digest,
          INDEX_TYPE,
        );

        await pushBlob(configs[4]!.digest, configs[4]!.contentLength, configs[4]!.content);
        await pushBlob(data.layerBlobDigest, data.layerBlobContentLength, data.layerBlobData);
        const resp = await client.do(putManifest('tagtest0', manifests[4]!.content));
        expectStatus(resp, is2xx, '2xx');

        await pushBlob(data.testRefBlobBDigest, data.testRefBlobBLength, data.testRefBlobB);
        await pushReferrer(
          data.refsManifestBConfigArtifactDigest,
          data.refsManifestBConfigArtifactContent,
          manifests[4]!.digest,
        );
        await pushReferrer(
          data.refsManifestBLayerArtifactDigest,
          data.refsManifestBLayerArtifactContent,
          manifests[4]!.digest,
        );
        await pushReferrer(
          data.refsManifestCLayerArtifactDigest,
          data.refsManifestCLayerArtifactContent,
          manifests[3]!.digest,
        );
      });
    });

    describe.sequential('Test content discovery endpoints (listing tags)', () => {
      specify('GET request to list tags should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const resp = await client.do(client.newRequest('GET', '/v2/<name>/tags/list'));
        expectStatus(resp, oneOf(200), '200');
        tagList = getTagList(resp);
        numTags = tagList.length;
      });

      specify('GET number of tags should be limitable by `n` query parameter', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const numResults = Math.trunc(numTags / 2);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults)),
        );
        expectStatus(resp, oneOf(200), '200');
        tagList = getTagList(resp);
        expect(tagList.length, `number of tags\n${resp.describe()}`).toBe(numResults);
      });

      specify('GET start of tag is set by `last` query parameter', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const numResults = Math.trunc(numTags / 2);
        let resp = await client.do(
          client.newRequest('GET', '/v2/<name>/tags/list').setQueryParam('n', String(numResults)),
        );
        tagList = getTagList(resp);
        // Go indexes tagList[numResults-1] here, which panics when it is out of range.
        const index = numResults - 1;
        if (index < 0 || index >= tagList.length) {
          expect.fail(`index out of range [${index}] with length ${tagList.length}\n${resp.describe()}`);
        }
        const last = tagList[index]!;
        resp = await client.do(
          client
            .newRequest('GET', '/v2/<name>/tags/list')
            .setQueryParam('n', String(numResults))
            .setQueryParam('last', last),
        );
        expectStatus(resp, oneOf(200), '200');
        // As in Go, these check the first response: tagList is not reassigned.
        expect(tagList.length).toBeLessThanOrEqual(numResults);
        expect(tagList).toContain(tagList[index]);
      });
    });

    describe.sequential('Test content discovery endpoints (listing references)', () => {
      specify('GET request to nonexistent blob should result in empty 200 response', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: data.dummyDigest }),
        );
        const index = expectIndexHeaders(resp);
        expect((index.manifests ?? []).length, `manifests\n${resp.describe()}`).toBe(0);
      });

      specify('GET request to existing blob should yield 200', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4]!.digest }),
        );
        const index = expectIndexHeaders(resp);
        const list = index.manifests ?? [];
        expect(list.length, `manifests\n${resp.describe()}`).toBe(5);
        expect(list[0]!.digest).not.toBe(list[1]!.digest);
        expectAnnotations(index, resp);
      });

      specify('GET request to existing blob with filter should yield 200', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const resp = await client.do(
          client
            .newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4]!.digest })
            .setQueryParam('artifactType', data.testRefArtifactTypeA),
        );
        const index = expectIndexHeaders(resp);
        const list = index.manifests ?? [];
        if (resp.header('OCI-Filters-Applied') !== '') {
          expect(list.length, `manifests\n${resp.describe()}`).toBe(2);
          expectEqual(resp.header('OCI-Filters-Applied'), ARTIFACT_TYPE_FILTER, 'OCI-Filters-Applied', resp);
          expectAnnotations(index, resp);
        } else {
          expect(list.length, `manifests\n${resp.describe()}`).toBe(5);
          expectAnnotations(index, resp);
          warn('filtering by artifact-type is not implemented');
        }
      });

      specify('GET request to missing manifest should yield 200', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[3]!.digest }),
        );
        const index = expectIndexHeaders(resp);
        const list = index.manifests ?? [];
        expect(list.length, `manifests\n${resp.describe()}`).toBe(1);
        expectEqual(list[0]!.digest, data.refsManifestCLayerArtifactDigest, 'referrer digest', resp);
      });
    });

    describe.sequential('Teardown', () => {
      const d2xx404405 = any(is2xx, oneOf(405, 404));
      const manifestDeletes = () => {
        specify('Delete created manifest & associated tags', async (ctx) => {
          skipIfDisabled(ctx, CONTENT_DISCOVERY);
          runOnlyIf(ctx, config.runContentDiscoverySetup);
          const references = [
            data.refsIndexArtifactDigest,
            manifests[2]!.digest,
            manifests[4]!.digest,
            data.refsManifestAConfigArtifactDigest,
            data.refsManifestALayerArtifactDigest,
            'tagtest0',
            data.refsManifestBConfigArtifactDigest,
            data.refsManifestBLayerArtifactDigest,
            data.refsManifestCLayerArtifactDigest,
          ];
          for (const ref of references) {
            expectStatus(await deleteManifest(ref), d2xx404405, '2xx, 405 or 404');
          }
        });
      };

      if (config.deleteManifestBeforeBlobs) manifestDeletes();

      specify('Delete config blob created in tests', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        expectStatus(await deleteBlob(configs[2]!.digest), any(is2xx, oneOf(405)), '2xx or 405');
      });

      specify('Delete layer blob created in setup', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        expectStatus(await deleteBlob(data.layerBlobDigest), any(is2xx, oneOf(405)), '2xx or 405');
      });

      if (!config.deleteManifestBeforeBlobs) manifestDeletes();

      specify('References teardown', async (ctx) => {
        skipIfDisabled(ctx, CONTENT_DISCOVERY);
        runOnlyIf(ctx, config.runContentDiscoverySetup);
        const deleteByReference = async (reference: string) =>
          expectStatus(
            await client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', { reference })),
            d2xx404405,
            '2xx, 405 or 404',
          );
        const referrerManifests = async () => {
          await deleteByReference(data.refsIndexArtifactDigest);
          await deleteByReference(data.refsManifestAConfigArtifactDigest);
          await deleteByReference(data.refsManifestALayerArtifactDigest);
          expectStatus(await deleteManifest(manifests[4]!.digest), d2xx404405, '2xx, 405 or 404');
          await deleteByReference(data.refsManifestBConfigArtifactDigest);
          await deleteByReference(data.refsManifestBLayerArtifactDigest);
        };

        if (config.deleteManifestBeforeBlobs) await referrerManifests();
        for (const digest of [
          configs[4]!.digest,
          data.testRefBlobADigest,
          data.testRefBlobBDigest,
          data.emptyJSONDescriptor.digest,
        ]) {
          expectStatus(await deleteBlob(digest), d2xx404405, '2xx, 405 or 404');
        }
        if (!config.deleteManifestBeforeBlobs) await referrerManifests();
      });
    });
  });
}
