import { describe, expect } from 'vitest';
import type { GoResponse } from './goclient.js';
import {
  any,
  atoi,
  expectEqual,
  expectNotEmpty,
  expectStatus,
  is2xx,
  MANIFEST_TYPE,
  OCTET_STREAM,
  oneOf,
  type SuiteKit,
  warn,
} from './kit.js';
import { type ChunkedBlob, PUSH, setupChunkedBlob } from './setup.js';

/** Push: streamed, monolithic and chunked uploads, mounts, manifests. */
export function definePushSpecs(kit: SuiteKit): void {
  const {
    config,
    data,
    client,
    specify,
    skipIfDisabled,
    runOnlyIf,
    runOnlyIfNot,
    putManifest,
    deleteManifest,
    deleteBlob,
  } = kit;
  const { configs, manifests } = data;
  describe.sequential('Push', () => {
    let lastResponse: GoResponse | undefined;
    let prevResponse: GoResponse | undefined;
    let emptyLayerManifestRef = '';
    let chunked: ChunkedBlob = setupChunkedBlob(42, data.seed);

    // (Go's empty "Setup" context has no specs; vitest rejects an empty describe.)

    describe.sequential('Blob Upload Streamed', () => {
      specify('PATCH request with blob in body should yield 202 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        let resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        resp = await client.do(
          client
            .newRequest('PATCH', resp.getRelativeLocation())
            .setHeader('Content-Type', OCTET_STREAM)
            .setBody(data.testBlobA),
        );
        expectStatus(resp, oneOf(202), '202');
        lastResponse = resp;
      });

      specify('PUT request to session URL with digest should yield 201 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        expect(lastResponse, 'lastResponse').toBeDefined();
        const resp = await client.do(
          client
            .newRequest('PUT', lastResponse!.getRelativeLocation())
            .setQueryParam('digest', data.testBlobADigest)
            .setHeader('Content-Type', OCTET_STREAM)
            .setHeader('Content-Length', data.testBlobALength),
        );
        expectStatus(resp, oneOf(201), '201');
        expectNotEmpty(resp.header('Location'), 'Location', resp);
      });
    });

    describe.sequential('Blob Upload Monolithic', () => {
      specify('GET nonexistent blob should result in 404 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: data.dummyDigest }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('POST request with digest and blob should yield a 201 or 202', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('POST', '/v2/<name>/blobs/uploads/')
            .setHeader('Content-Length', configs[1]!.contentLength)
            .setHeader('Content-Type', OCTET_STREAM)
            .setQueryParam('digest', configs[1]!.digest)
            .setBody(configs[1]!.content),
        );
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        expectStatus(resp, oneOf(201, 202), '201 or 202');
        lastResponse = resp;
      });

      specify(
        'GET request to blob URL from prior request should yield 200 or 404 based on response code',
        async (ctx) => {
          skipIfDisabled(ctx, PUSH);
          expect(lastResponse, 'lastResponse').toBeDefined();
          const resp = await client.do(
            client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[1]!.digest }),
          );
          if (lastResponse!.statusCode() === 202)
            expectStatus(resp, oneOf(404), '404 (the POST answered 202)');
          else expectStatus(resp, oneOf(200), '200');
        },
      );

      specify('POST request should yield a session ID', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
        expectStatus(resp, oneOf(202), '202');
        lastResponse = resp;
      });

      specify('PUT upload of a blob should yield a 201 Response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('PUT', lastResponse!.getRelativeLocation())
            .setHeader('Content-Length', configs[1]!.contentLength)
            .setHeader('Content-Type', OCTET_STREAM)
            .setQueryParam('digest', configs[1]!.digest)
            .setBody(configs[1]!.content),
        );
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        expectStatus(resp, oneOf(201), '201');
      });

      specify('GET request to existing blob should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: configs[1]!.digest }),
        );
        expectStatus(resp, oneOf(200), '200');
      });

      specify('PUT upload of a layer blob should yield a 201 Response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const post = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
        const resp = await client.do(
          client
            .newRequest('PUT', post.getRelativeLocation())
            .setHeader('Content-Length', data.layerBlobContentLength)
            .setHeader('Content-Type', OCTET_STREAM)
            .setQueryParam('digest', data.layerBlobDigest)
            .setBody(data.layerBlobData),
        );
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        expectStatus(resp, oneOf(201), '201');
      });

      specify('GET request to existing layer should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/blobs/<digest>', { digest: data.layerBlobDigest }),
        );
        expectStatus(resp, oneOf(200), '200');
      });
    });

    describe.sequential('Blob Upload Chunked', () => {
      specify('Out-of-order blob upload should return 416', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        let resp = await client.do(
          client.newRequest('POST', '/v2/<name>/blobs/uploads/').setHeader('Content-Length', '0'),
        );
        expectNotEmpty(resp.header('Location'), 'Location', resp);

        // rebuild the chunked blob if the minimum chunk size is above our chunk size
        const minSizeStr = resp.header('OCI-Chunk-Min-Length');
        if (minSizeStr !== '') {
          const minSize = atoi(minSizeStr);
          expect(
            minSize,
            `OCI-Chunk-Min-Length ${JSON.stringify(minSizeStr)} is not an integer`,
          ).toBeDefined();
          if (minSize! > chunked.chunk1.length) chunked = setupChunkedBlob(minSize! * 2 - 2, data.seed);
        }

        resp = await client.do(
          client
            .newRequest('PATCH', resp.getRelativeLocation())
            .setHeader('Content-Type', OCTET_STREAM)
            .setHeader('Content-Length', chunked.chunk2Length)
            .setHeader('Content-Range', chunked.chunk2Range)
            .setBody(chunked.chunk2),
        );
        expectStatus(resp, oneOf(416), '416');
      });

      specify('PATCH request with first chunk should return 202', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        let resp = await client.do(
          client.newRequest('POST', '/v2/<name>/blobs/uploads/').setHeader('Content-Length', '0'),
        );
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        prevResponse = resp;
        resp = await client.do(
          client
            .newRequest('PATCH', resp.getRelativeLocation())
            .setHeader('Content-Type', OCTET_STREAM)
            .setHeader('Content-Length', chunked.chunk1Length)
            .setHeader('Content-Range', chunked.chunk1Range)
            .setBody(chunked.chunk1),
        );
        expectStatus(resp, oneOf(202), '202');
        expectEqual(resp.header('Range'), chunked.chunk1Range, 'Range', resp);
        lastResponse = resp;
      });

      specify('Retry previous blob chunk should return 416', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('PATCH', prevResponse!.getRelativeLocation())
            .setHeader('Content-Type', OCTET_STREAM)
            .setHeader('Content-Length', chunked.chunk1Length)
            .setHeader('Content-Range', chunked.chunk1Range)
            .setBody(chunked.chunk1),
        );
        expectStatus(resp, oneOf(416), '416');
      });

      specify('Get on stale blob upload should return 204 with a range and location', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(client.newRequest('GET', prevResponse!.getRelativeLocation()));
        expectStatus(resp, oneOf(204), '204');
        expectNotEmpty(resp.header('Location'), 'Location', resp);
        expectEqual(resp.header('Range'), chunked.chunk1Range, 'Range', resp);
        lastResponse = resp;
      });

      specify('PATCH request with second chunk should return 202', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('PATCH', lastResponse!.getRelativeLocation())
            .setHeader('Content-Length', chunked.chunk2Length)
            .setHeader('Content-Range', chunked.chunk2Range)
            .setHeader('Content-Type', OCTET_STREAM)
            .setBody(chunked.chunk2),
        );
        const location = resp.header('Location');
        expectStatus(resp, oneOf(202), '202');
        expectNotEmpty(location, 'Location', resp);
        lastResponse = resp;
      });

      specify('PUT request with digest should return 201', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('PUT', lastResponse!.getRelativeLocation())
            .setHeader('Content-Length', '0')
            .setHeader('Content-Type', OCTET_STREAM)
            .setQueryParam('digest', chunked.digest),
        );
        expectStatus(resp, oneOf(201), '201');
        expectNotEmpty(resp.header('Location'), 'Location', resp);
      });
    });

    describe.sequential('Cross-Repository Blob Mount', () => {
      const crossmount = { name: config.crossmountNamespace };

      specify('Cross-mounting of a blob without the from argument should yield session id', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('POST', '/v2/<name>/blobs/uploads/', crossmount)
            .setQueryParam('mount', data.dummyDigest),
        );
        expectStatus(resp, oneOf(202), '202');
        expectNotEmpty(resp.getAbsoluteLocation(), 'Location', resp);
      });

      specify("POST request to mount another repository's blob should return 201 or 202", async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('POST', '/v2/<name>/blobs/uploads/', crossmount)
            .setQueryParam('mount', data.testBlobADigest)
            .setQueryParam('from', client.defaultName),
        );
        expectStatus(resp, oneOf(201, 202), '201 or 202');
        lastResponse = resp;
      });

      specify('GET request to test digest within cross-mount namespace should return 200', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        runOnlyIf(ctx, lastResponse!.statusCode() === 201);
        expectEqual(
          lastResponse!.getRelativeLocation(),
          `/v2/${config.crossmountNamespace}/blobs/${data.testBlobADigest}`,
          'relative Location of the mount',
          lastResponse,
        );
        const resp = await client.do(client.newRequest('GET', lastResponse!.getRelativeLocation()));
        expectStatus(resp, oneOf(200), '200');
      });

      specify('Cross-mounting of nonexistent blob should yield session id', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        runOnlyIf(ctx, lastResponse!.statusCode() === 202);
        const prefix = `/v2/${config.crossmountNamespace}/blobs/uploads/`;
        const location = lastResponse!.getRelativeLocation();
        expect(location.startsWith(prefix), `Location ${location} should start with ${prefix}`).toBe(true);
      });

      specify(
        'Cross-mounting without from, and automatic content discovery enabled should return a 201',
        async (ctx) => {
          skipIfDisabled(ctx, PUSH);
          runOnlyIf(ctx, config.runAutomaticCrossmountTest);
          runOnlyIf(ctx, lastResponse!.statusCode() === 201);
          runOnlyIf(ctx, config.automaticCrossmountEnabled);
          const resp = await client.do(
            client
              .newRequest('POST', '/v2/<name>/blobs/uploads/', crossmount)
              .setQueryParam('mount', data.testBlobADigest),
          );
          expectStatus(resp, oneOf(201), '201');
        },
      );

      specify(
        'Cross-mounting without from, and automatic content discovery disabled should return a 202',
        async (ctx) => {
          skipIfDisabled(ctx, PUSH);
          runOnlyIf(ctx, config.runAutomaticCrossmountTest);
          runOnlyIf(ctx, lastResponse!.statusCode() === 201);
          runOnlyIfNot(ctx, config.automaticCrossmountEnabled);
          const resp = await client.do(
            client
              .newRequest('POST', '/v2/<name>/blobs/uploads/', crossmount)
              .setQueryParam('mount', data.testBlobADigest),
          );
          expectStatus(resp, oneOf(202), '202');
        },
      );
    });

    describe.sequential('Manifest Upload', () => {
      specify('GET nonexistent manifest should return 404', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client.newRequest('GET', '/v2/<name>/manifests/<reference>', {
            reference: data.nonexistentManifest,
          }),
        );
        expectStatus(resp, oneOf(404), '404');
      });

      specify('PUT should accept a manifest upload', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        for (let i = 0; i < 4; i++) {
          const resp = await client.do(putManifest(`test${i}`, manifests[1]!.content));
          expectNotEmpty(resp.header('Location'), 'Location', resp);
          expectStatus(resp, oneOf(201), '201');
        }
      });

      specify('Registry should accept a manifest upload with no layers', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(putManifest('emptylayer', data.emptyLayerManifestContent));
        if (resp.statusCode() === 201) {
          const location = resp.header('Location');
          emptyLayerManifestRef = location;
          expectNotEmpty(location, 'Location', resp);
        } else {
          warn('image manifest with no layers is not supported');
        }
      });

      specify('GET request to manifest URL (digest) should yield 200 response', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        const resp = await client.do(
          client
            .newRequest('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[1]!.digest })
            .setHeader('Accept', MANIFEST_TYPE),
        );
        expectStatus(resp, oneOf(200), '200');
      });
    });

    describe.sequential('Teardown', () => {
      const manifestDelete = () => {
        specify('Delete manifest created in tests', async (ctx) => {
          skipIfDisabled(ctx, PUSH);
          runOnlyIf(ctx, config.runPushSetup);
          let resp = await deleteManifest(manifests[1]!.digest);
          expectStatus(resp, any(is2xx, oneOf(405)), '2xx or 405');
          if (emptyLayerManifestRef !== '') {
            resp = await client.do(
              client.newRequest('DELETE', '/v2/<name>/manifests/<reference>', {
                reference: data.emptyLayerManifestDigest,
              }),
            );
            expectStatus(resp, any(is2xx, oneOf(405)), '2xx or 405');
          }
        });
      };

      if (config.deleteManifestBeforeBlobs) manifestDelete();

      specify('Delete config blob created in tests', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        runOnlyIf(ctx, config.runPushSetup);
        expectStatus(await deleteBlob(configs[1]!.digest), any(is2xx, oneOf(404, 405)), '2xx, 404 or 405');
      });

      specify('Delete layer blob created in setup', async (ctx) => {
        skipIfDisabled(ctx, PUSH);
        runOnlyIf(ctx, config.runPushSetup);
        expectStatus(await deleteBlob(data.layerBlobDigest), any(is2xx, oneOf(404, 405)), '2xx, 404 or 405');
      });

      if (!config.deleteManifestBeforeBlobs) manifestDelete();
    });
  });
}
