import type { RegistryRequest } from '@wharf/core';
import { makeImage, randomContent } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import {
  all,
  responseErrorCode as errorOf,
  rawRequest as raw,
  setup,
  storageSnapshot as snapshot,
} from './helpers.js';

const EMPTY = { blobs: [], uploads: [], repositories: [] };

describe('bad input', () => {
  it('rejects invalid repository names with NAME_INVALID and stores nothing', async () => {
    const { client, registry } = setup();
    const before = await snapshot(registry);
    const { bytes, digest } = randomContent(10);
    // (Dot segments are resolved by URL parsing before a request is sent; raw targets are tested below.)
    const names = ['UPPER/case', 'a'.repeat(300), 'a//b', 'a/', '_x', 'a..b', '-a', 'a%2fb%00', 'sp ace'];
    for (const name of names) {
      for (const [method, path, init] of [
        ['POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: bytes }],
        ['GET', `/v2/${name}/tags/list`, undefined],
        ['PUT', `/v2/${name}/manifests/latest`, { body: '{}' }],
      ] as const) {
        const res = await client.request(method, path, init);
        expect([400, 404], `${method} ${name}`).toContain(res.status);
        const body = (await res.json()) as { errors: Array<{ code: string }> };
        if (res.status === 400) expect(body.errors[0]!.code).toBe('NAME_INVALID');
      }
    }
    expect(await snapshot(registry)).toEqual(before);
  });

  it('rejects path traversal in raw request targets', async () => {
    const { registry } = setup();
    const { digest } = randomContent(1);
    for (const url of [
      `/v2/../../etc/blobs/${digest}`,
      `/v2/a/%2e%2e/%2e%2e/blobs/${digest}`,
      '/v2/a/blobs/uploads/..%2f..%2fx',
      `/v2/a%00b/blobs/${digest}`,
      '/v2/a/manifests/..%2F..%2Fpasswd',
      '/v2/a/blobs/sha256:..%2f..%2f',
      '/v2/%zz/tags/list',
    ]) {
      const res = await registry.handle(raw('GET', url, {}, null));
      expect([400, 404], url).toContain(res.status);
    }
    expect(await snapshot(registry)).toEqual(EMPTY);
  });

  it('rejects invalid tags on push with 400 and stores nothing', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    for (const blob of [image.config, ...image.layers]) await client.pushBlob('repo', blob.bytes);
    const before = await snapshot(registry);
    for (const tag of ['-x', '.x', 'x'.repeat(129), 't%20ag', 'a+b']) {
      const res = await client.putManifest('repo', tag, image.manifest, image.mediaType);
      expect(res.status, tag).toBe(400);
    }
    expect(await registry.storage.metadata.listTags('repo')).toEqual([]);
    expect(await snapshot(registry)).toEqual(before);
  });

  it('rejects malformed digests and unknown algorithms with DIGEST_INVALID (400)', async () => {
    const { client, registry } = setup();
    const { bytes } = randomContent(10);
    const hex = 'a'.repeat(64);
    const digests = [
      'sha256:zz',
      `sha256:${hex.slice(1)}`,
      `sha256:${hex.toUpperCase()}`,
      `md5:${'a'.repeat(32)}`,
      `sha256+b64u:${hex}`,
      'sha256',
      `SHA256:${hex}`,
    ];
    for (const digest of digests) {
      for (const [method, path, init] of [
        ['GET', `/v2/repo/blobs/${digest}`, undefined],
        ['POST', `/v2/repo/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { body: bytes }],
        ['POST', `/v2/repo/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=x`, undefined],
        ['GET', `/v2/repo/referrers/${digest}`, undefined],
      ] as const) {
        const res = await client.request(method, path, init);
        if (digest === 'sha256' && method === 'GET' && path.includes('/blobs/')) {
          // Not a digest at all: no such endpoint shape is a blob either way.
          expect([400, 404]).toContain(res.status);
          continue;
        }
        expect(res.status, `${method} ${path}`).toBe(400);
        const body = (await res.json()) as { errors: Array<{ code: string }> };
        expect(body.errors[0]!.code).toBe('DIGEST_INVALID');
      }
    }
    const location = await client.startUpload('repo');
    const put = await client.request('PUT', `${location}?digest=sha256:zz`, { body: bytes });
    expect(put.status).toBe(400);
    expect(await all(registry.storage.blobs.list())).toEqual([]);
  });

  it('rejects a body whose length differs from Content-Length, storing nothing', async () => {
    const { registry } = setup();
    const { bytes, digest } = randomContent(100);
    const short = await registry.handle(
      raw('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { 'Content-Length': '200' }, [bytes]),
    );
    expect(short.status).toBe(400);
    expect(await errorOf(short)).toBe('SIZE_INVALID');
    const long = await registry.handle(
      raw('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { 'Content-Length': '50' }, [bytes]),
    );
    expect(long.status).toBe(400);
    const bogus = await registry.handle(
      raw('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { 'Content-Length': '1e3' }, [bytes]),
    );
    expect(bogus.status).toBe(400);
    const post = await registry.handle(raw('POST', '/v2/repo/blobs/uploads/', {}, null));
    const location = post.headers.Location as string;
    const patch = await registry.handle(raw('PATCH', location, { 'Content-Length': '99' }, [bytes]));
    expect(patch.status).toBe(400);
    const session = await registry.storage.uploads.get(location.split('/').pop()!);
    expect(session?.size).toBe(0);
    const manifest = await registry.handle(
      raw('PUT', '/v2/repo/manifests/x', { 'Content-Length': '5' }, [bytes]),
    );
    expect([400, 413]).toContain(manifest.status);
    expect(await all(registry.storage.blobs.list())).toEqual([]);
  });

  it('survives a body stream that fails midway (client abort) without state changes', async () => {
    const { registry } = setup();
    const { bytes, digest } = randomContent(100_000);
    const failing = (async function* () {
      yield bytes.subarray(0, 1000);
      throw new Error('socket hang up');
    })();
    const request: RegistryRequest = {
      ...raw('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, {}, null),
      body: failing,
    };
    const res = await registry.handle(request);
    expect(res.status).toBe(500);
    expect(await snapshot(registry)).toEqual(EMPTY);
  });
});
