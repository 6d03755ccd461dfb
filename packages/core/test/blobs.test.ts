import { randomContent } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { errorCode, setup } from './helpers.js';

describe('blob reads', () => {
  it('GET and HEAD an existing blob (200, digest, length, no HEAD body)', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(1_000_000);
    await client.pushBlob('repo', bytes);
    const get = await client.request('GET', `/v2/repo/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('docker-content-digest')).toBe(digest);
    expect(get.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(get.headers.get('content-type')).toBe('application/octet-stream');
    expect(get.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    const head = await client.request('HEAD', `/v2/repo/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 404 BLOB_UNKNOWN for unknown blobs and blobs of other repositories', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(10);
    await client.pushBlob('mine', bytes);
    for (const path of [`/v2/mine/blobs/${randomContent(10).digest}`, `/v2/yours/blobs/${digest}`]) {
      const get = await client.request('GET', path);
      expect(get.status).toBe(404);
      expect(await errorCode(get)).toBe('BLOB_UNKNOWN');
      expect((await client.request('HEAD', path)).status).toBe(404);
    }
  });

  it('serves byte ranges: closed, open-ended and suffix (206 with Content-Range)', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(1000);
    await client.pushBlob('repo', bytes);
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-19', 10, 19],
      ['bytes=900-', 900, 999],
      ['bytes=-100', 900, 999],
      ['bytes=-5000', 0, 999],
      ['bytes=990-5000', 990, 999],
    ];
    for (const [range, start, end] of cases) {
      const res = await client.request('GET', `/v2/repo/blobs/${digest}`, { headers: { Range: range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(start, end + 1))).toBe(true);
    }
  });

  it('answers 416 with Content-Range bytes */size to unsatisfiable or malformed ranges', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(1000);
    await client.pushBlob('repo', bytes);
    for (const range of [
      'bytes=1000-',
      'bytes=2000-3000',
      'bytes=-0',
      'bytes=20-10',
      'bytes=abc',
      'bytes=-',
    ]) {
      const res = await client.request('GET', `/v2/repo/blobs/${digest}`, { headers: { Range: range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get('content-range')).toBe('bytes */1000');
    }
  });

  it('ignores multi-range and non-byte ranges (200, whole blob)', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(100);
    await client.pushBlob('repo', bytes);
    for (const range of ['bytes=0-1,5-6', 'items=0-1']) {
      const res = await client.request('GET', `/v2/repo/blobs/${digest}`, { headers: { Range: range } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
  });

  it('deletes a blob from one repository only (202), then 404', async () => {
    const { client, registry } = setup();
    const { bytes, digest } = randomContent(10);
    await client.pushBlob('one', bytes);
    await client.pushBlob('two', bytes);
    const del = await client.request('DELETE', `/v2/one/blobs/${digest}`);
    expect(del.status).toBe(202);
    expect((await client.request('GET', `/v2/one/blobs/${digest}`)).status).toBe(404);
    expect((await client.request('GET', `/v2/two/blobs/${digest}`)).status).toBe(200);
    expect((await client.request('DELETE', `/v2/one/blobs/${digest}`)).status).toBe(404);
    // The bytes stay until garbage collection.
    expect((await registry.storage.blobs.stat(digest))?.size).toBe(10);
  });

  it('redirects GETs (307) when the blob store offers a URL, and serves HEAD directly', async () => {
    const base = setup();
    const { bytes, digest } = randomContent(10);
    await base.client.pushBlob('repo', bytes);
    const blobs = base.registry.storage.blobs;
    const redirecting = setup({
      storage: {
        ...base.registry.storage,
        blobs: {
          stat: (d) => blobs.stat(d),
          open: (d, o) => blobs.open(d, o),
          put: (d, s, o) => blobs.put(d, s, o),
          delete: (d) => blobs.delete(d),
          list: () => blobs.list(),
          url: async (d, { expiresIn }) => `https://cdn.example/${d}?expires=${expiresIn}`,
        },
      },
      redirectExpiresIn: 60,
    });
    const get = await redirecting.client.request('GET', `/v2/repo/blobs/${digest}`, { redirect: 'manual' });
    expect(get.status).toBe(307);
    expect(get.headers.get('location')).toBe(`https://cdn.example/${digest}?expires=60`);
    const head = await redirecting.client.request('HEAD', `/v2/repo/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('10');
  });
});
