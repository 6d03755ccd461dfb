import { createMemoryStorage, createRegistry, type RegistryStorage } from '@wharf/core';
import { OciClient, randomContent, sha256, sha512 } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { all, errorCode, setup, wrapUploads } from './helpers.js';

const OCTET = { 'Content-Type': 'application/octet-stream' };

describe('blob uploads', () => {
  it('single POST with ?digest creates the blob (201, Location, Docker-Content-Digest)', async () => {
    const { client, registry } = setup();
    const { bytes, digest } = randomContent(5000);
    const res = await client.request('POST', `/v2/a/b/blobs/uploads/?digest=${digest}`, {
      body: bytes,
      headers: OCTET,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/a/b/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect((await client.getBlob('a/b', digest)).equals(bytes)).toBe(true);
    expect(await registry.storage.metadata.hasBlobLink('a/b', digest)).toBe(true);
  });

  it('POST then PUT with the whole body', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(70_000);
    const post = await client.request('POST', '/v2/repo/blobs/uploads/');
    expect(post.status).toBe(202);
    const location = post.headers.get('location')!;
    expect(location).toMatch(/^\/v2\/repo\/blobs\/uploads\/[0-9a-f-]{36}$/);
    expect(post.headers.get('docker-upload-uuid')).toBe(location.split('/').pop());
    expect(post.headers.get('range')).toBe('0-0');
    const put = await client.request('PUT', `${location}?digest=${digest}`, { body: bytes, headers: OCTET });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`/v2/repo/blobs/${digest}`);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
    // The session is gone.
    expect((await client.request('GET', location)).status).toBe(404);
  });

  it('chunked PATCHes with Content-Range report Range and commit on an empty PUT', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(100_000);
    let location = await client.startUpload('repo');
    const cuts = [0, 40_000, 40_001, 100_000];
    for (let i = 0; i < cuts.length - 1; i++) {
      const chunk = bytes.subarray(cuts[i]!, cuts[i + 1]!);
      const res = await client.request('PATCH', location, {
        body: chunk,
        headers: { ...OCTET, 'Content-Range': `${cuts[i]}-${cuts[i + 1]! - 1}` },
      });
      expect(res.status).toBe(202);
      expect(res.headers.get('range')).toBe(`0-${cuts[i + 1]! - 1}`);
      expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
      location = client.location(res);
    }
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-99999');
    expect(status.headers.get('location')).toBe(new URL(location).pathname);
    const put = await client.request('PUT', `${location}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('answers 416 to an out-of-order or repeated chunk, keeping the staged bytes', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(42);
    const location = await client.startUpload('repo');
    const second = await client.request('PATCH', location, {
      body: bytes.subarray(22),
      headers: { ...OCTET, 'Content-Range': '22-41' },
    });
    expect(second.status).toBe(416);
    expect(second.headers.get('range')).toBe('0-0');
    expect(second.headers.get('location')).toBe(new URL(location).pathname);
    const first = await client.request('PATCH', location, {
      body: bytes.subarray(0, 22),
      headers: { ...OCTET, 'Content-Range': '0-21' },
    });
    expect(first.status).toBe(202);
    const again = await client.request('PATCH', location, {
      body: bytes.subarray(0, 22),
      headers: { ...OCTET, 'Content-Range': '0-21' },
    });
    expect(again.status).toBe(416);
    expect(again.headers.get('range')).toBe('0-21');
    expect(await errorCode(again)).toBe('BLOB_UPLOAD_INVALID');
    const rest = await client.request('PATCH', location, {
      body: bytes.subarray(22),
      headers: { ...OCTET, 'Content-Range': '22-41' },
    });
    expect(rest.status).toBe(202);
    expect((await client.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('accepts a streamed PATCH without Content-Range (the docker flow)', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(300_000);
    const location = await client.startUpload('repo');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.byteLength; i += 10_000) controller.enqueue(bytes.subarray(i, i + 10_000));
        controller.close();
      },
    });
    const patch = await client.request('PATCH', location, { body: stream, headers: OCTET });
    expect(patch.status).toBe(202);
    expect(patch.headers.get('range')).toBe('0-299999');
    const put = await client.request('PUT', `${client.location(patch)}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('takes the final chunk in the PUT, with or without Content-Range', async () => {
    for (const withRange of [true, false]) {
      const { client } = setup();
      const { bytes, digest } = randomContent(50_000);
      const location = await client.startUpload('repo');
      await client.request('PATCH', location, {
        body: bytes.subarray(0, 30_000),
        headers: { ...OCTET, 'Content-Range': '0-29999' },
      });
      const put = await client.request('PUT', `${location}?digest=${digest}`, {
        body: bytes.subarray(30_000),
        headers: { ...OCTET, ...(withRange ? { 'Content-Range': '30000-49999' } : {}) },
      });
      expect(put.status).toBe(201);
      expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
    }
  });

  it('answers 416 to a final chunk in the PUT at the wrong offset', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(100);
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: bytes.subarray(0, 50), headers: OCTET });
    const put = await client.request('PUT', `${location}?digest=${digest}`, {
      body: bytes.subarray(60),
      headers: { ...OCTET, 'Content-Range': '60-99' },
    });
    expect(put.status).toBe(416);
    expect(put.headers.get('range')).toBe('0-49');
    expect((await client.request('GET', location)).status).toBe(204);
  });

  it('rejects a wrong digest with DIGEST_INVALID, stores nothing and ends the session', async () => {
    const { client, registry } = setup();
    const { bytes } = randomContent(1000);
    const wrong = randomContent(1000).digest;
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: bytes, headers: OCTET });
    const put = await client.request('PUT', `${location}?digest=${wrong}`);
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('DIGEST_INVALID');
    expect(await registry.storage.blobs.stat(wrong)).toBeNull();
    expect(await registry.storage.blobs.stat(sha256(bytes))).toBeNull();
    expect(await all(registry.storage.uploads.list())).toEqual([]);
    expect((await client.request('GET', location)).status).toBe(404);

    const single = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${wrong}`, { body: bytes });
    expect(single.status).toBe(400);
    expect(await errorCode(single)).toBe('DIGEST_INVALID');
    const monolithic = await client.startUpload('repo');
    const put2 = await client.request('PUT', `${monolithic}?digest=${wrong}`, { body: bytes });
    expect(put2.status).toBe(400);
    expect(await all(registry.storage.blobs.list())).toEqual([]);
    expect(await all(registry.storage.uploads.list())).toEqual([]);
    expect(await registry.storage.metadata.hasRepository('repo')).toBe(false);
  });

  it('requires the digest parameter on the closing PUT', async () => {
    const { client } = setup();
    const location = await client.startUpload('repo');
    const put = await client.request('PUT', location, { body: 'abc' });
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('DIGEST_INVALID');
  });

  it('reports status (204) and cancels (204, then 404) a session', async () => {
    const { client, registry } = setup();
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: 'hello', headers: OCTET });
    const status = await client.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-4');
    expect(status.headers.get('docker-upload-uuid')).toBe(location.split('/').pop());
    const cancel = await client.request('DELETE', location);
    expect(cancel.status).toBe(204);
    expect(await all(registry.storage.uploads.list())).toEqual([]);
    expect((await client.request('GET', location)).status).toBe(404);
    const again = await client.request('DELETE', location);
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('BLOB_UPLOAD_UNKNOWN');
    const patch = await client.request('PATCH', location, { body: 'x' });
    expect(patch.status).toBe(404);
  });

  it('does not let another repository use a session', async () => {
    const { client } = setup();
    const location = new URL(await client.startUpload('one'));
    const other = location.pathname.replace('/v2/one/', '/v2/two/');
    expect((await client.request('GET', other)).status).toBe(404);
    expect((await client.request('PATCH', other, { body: 'x' })).status).toBe(404);
    expect((await client.request('GET', location.pathname)).status).toBe(204);
  });

  it('answers BLOB_UPLOAD_UNKNOWN for ids that are not sessions', async () => {
    const { client } = setup();
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', 'A'.repeat(36)]) {
      const res = await client.request('GET', `/v2/repo/blobs/uploads/${id}`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    }
  });

  it('supports sha512 announced with ?digest-algorithm=', async () => {
    const { client, registry } = setup();
    const bytes = randomContent(20_000).bytes;
    const digest = sha512(bytes);
    const location = await client.startUpload('repo', '?digest-algorithm=sha512');
    const session = await registry.storage.uploads.get(location.split('/').pop()!);
    expect(session?.algorithm).toBe('sha512');
    await client.request('PATCH', location, { body: bytes.subarray(0, 9000), headers: OCTET });
    await client.request('PATCH', location, { body: bytes.subarray(9000), headers: OCTET });
    const put = await client.request('PUT', `${location}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('supports sha512 first learned at the PUT, and single-request sha512 uploads', async () => {
    const { client } = setup();
    const bytes = randomContent(20_000).bytes;
    const digest = sha512(bytes);
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: bytes, headers: OCTET });
    const put = await client.request('PUT', `${location}?digest=${digest}`);
    expect(put.status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);

    const other = randomContent(3000).bytes;
    const post = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${sha512(other)}`, {
      body: other,
    });
    expect(post.status).toBe(201);
    expect((await client.getBlob('repo', sha512(other))).equals(other)).toBe(true);
  });

  it('rejects unsupported digest algorithms with 400', async () => {
    const { client } = setup();
    const res = await client.request('POST', '/v2/repo/blobs/uploads/?digest-algorithm=md5');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('DIGEST_INVALID');
    const post = await client.request('POST', `/v2/repo/blobs/uploads/?digest=sha1:${'a'.repeat(40)}`, {
      body: 'x',
    });
    expect(post.status).toBe(400);
    expect(await errorCode(post)).toBe('DIGEST_INVALID');
  });

  it('lets concurrent uploads of the same blob all succeed (rule 5)', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(400_000);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        client.pushBlob(
          `repo${i % 2}`,
          bytes,
          i % 3 === 0 ? 'chunked' : i % 3 === 1 ? 'stream' : 'post-put',
          64 * 1024,
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill('fulfilled'));
    for (const repo of ['repo0', 'repo1']) {
      const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
    }
  });

  it('serves one upload through two registries sharing stores, alternately (rule 1)', async () => {
    const storage = createMemoryStorage();
    const a = createRegistry({ storage });
    const b = createRegistry({ storage });
    const clientA = new OciClient('http://registry.local', (i, init) => a.fetch(i, init));
    const clientB = new OciClient('http://registry.local', (i, init) => b.fetch(i, init));
    const { bytes, digest } = randomContent(90_000);
    let location = await clientA.startUpload('shared');
    const p1 = await clientB.request('PATCH', location, {
      body: bytes.subarray(0, 30_000),
      headers: { 'Content-Range': '0-29999' },
    });
    expect(p1.status).toBe(202);
    location = clientB.location(p1);
    const p2 = await clientA.request('PATCH', location, {
      body: bytes.subarray(30_000, 60_000),
      headers: { 'Content-Range': '30000-59999' },
    });
    expect(p2.status).toBe(202);
    const put = await clientB.request('PUT', `${clientA.location(p2)}?digest=${digest}`, {
      body: bytes.subarray(60_000),
    });
    expect(put.status).toBe(201);
    expect((await clientA.getBlob('shared', digest)).equals(bytes)).toBe(true);
    expect((await clientB.getBlob('shared', digest)).equals(bytes)).toBe(true);
  });
});

/** Counts bytes read back from an upload store (the re-hash path). */
function countingReads(storage: RegistryStorage): { storage: RegistryStorage; bytesRead: () => number } {
  let bytes = 0;
  const uploads = wrapUploads(storage.uploads, {
    read: (id, window, signal) => {
      bytes += window.length;
      return storage.uploads.read(id, window, signal);
    },
  });
  return { storage: { ...storage, uploads }, bytesRead: () => bytes };
}

/** Registries over one storage, like replicas over one bucket, each with its own client. */
function replicas(storage: RegistryStorage, count: number): OciClient[] {
  return Array.from({ length: count }, () => {
    const registry = createRegistry({ storage });
    return new OciClient('http://registry.local', (i, init) => registry.fetch(i, init));
  });
}

describe('resumable hashing (rule 2)', () => {
  it('saves a hash state after every chunk and never re-reads staged bytes on one replica', async () => {
    const counted = countingReads(createMemoryStorage());
    const { client, registry } = setup({ storage: counted.storage });
    const { bytes, digest } = randomContent(120_000);
    const location = await client.startUpload('repo');
    const id = location.split('/').pop()!;
    for (let offset = 0; offset < bytes.byteLength; offset += 40_000) {
      await client.request('PATCH', location, { body: bytes.subarray(offset, offset + 40_000) });
      const session = await registry.storage.uploads.get(id);
      expect(session?.hashState?.offset).toBe(offset + 40_000);
      expect(session?.hashState?.algorithm).toBe('sha256');
    }
    expect((await client.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
    expect(counted.bytesRead()).toBe(0);
  });

  it('closes on another replica without re-reading (POST→A, PATCH→B, PUT→C)', async () => {
    const counted = countingReads(createMemoryStorage());
    const [a, b, c] = replicas(counted.storage, 3) as [OciClient, OciClient, OciClient];
    const { bytes, digest } = randomContent(200_000);
    const location = await a.startUpload('repo');
    expect((await b.request('PATCH', location, { body: bytes })).status).toBe(202);
    expect((await c.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
    expect(counted.bytesRead()).toBe(0);
    expect((await a.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('re-reads at most the first chunk when every chunk lands on another replica', async () => {
    const counted = countingReads(createMemoryStorage());
    const clients = replicas(counted.storage, 2);
    const { bytes, digest } = randomContent(500_000);
    const location = await clients[0]!.startUpload('repo');
    const chunk = 50_000;
    for (let offset = 0, i = 0; offset < bytes.byteLength; offset += chunk, i++) {
      const res = await clients[i % 2]!.request('PATCH', location, {
        body: bytes.subarray(offset, offset + chunk),
        headers: { 'Content-Range': `${offset}-${offset + chunk - 1}` },
      });
      expect(res.status).toBe(202);
    }
    expect((await clients[1]!.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
    expect(counted.bytesRead()).toBeLessThanOrEqual(chunk);
    expect((await clients[0]!.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });

  it('repairs a hash state that lags the staged bytes (a crash between append and save)', async () => {
    const storage = createMemoryStorage();
    // A store that loses every second state save, as if the process died right after the append.
    let saves = 0;
    const uploads = wrapUploads(storage.uploads, {
      saveHashState: async (id, state) => {
        if (saves++ % 2 === 1) return;
        await storage.uploads.saveHashState(id, state);
      },
    });
    const clients = replicas({ ...storage, uploads }, 3);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const { bytes } = randomContent(100_000);
      const digest = algorithm === 'sha256' ? sha256(bytes) : sha512(bytes);
      const location = await clients[0]!.startUpload('repo', `?digest-algorithm=${algorithm}`);
      for (let offset = 0, i = 0; offset < bytes.byteLength; offset += 25_000, i++) {
        const res = await clients[i % 3]!.request('PATCH', location, {
          body: bytes.subarray(offset, offset + 25_000),
        });
        expect(res.status).toBe(202);
      }
      expect((await clients[2]!.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
      expect((await clients[1]!.getBlob('repo', digest)).equals(bytes)).toBe(true);
    }
  });

  it('keeps hashing correct when a chunk fails midway and is retried', async () => {
    const { client, registry } = setup();
    const { bytes, digest } = randomContent(90_000);
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: bytes.subarray(0, 30_000) });
    // A chunk that breaks off: the store never sees its end.
    const broken = await registry.handle({
      method: 'PATCH',
      url: new URL(location).pathname,
      headers: { get: () => null },
      body: (async function* () {
        yield bytes.subarray(30_000, 40_000);
        throw new Error('connection reset');
      })(),
    });
    expect(broken.status).toBe(500);
    await client.request('PATCH', location, { body: bytes.subarray(30_000) });
    expect((await client.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
  });

  it('hashes blake3 uploads resumably', async () => {
    const { client } = setup();
    const bytes = randomContent(70_000).bytes;
    const { createBLAKE3 } = await import('hash-wasm');
    const b3 = await createBLAKE3(256);
    b3.init();
    b3.update(bytes);
    const digest = `blake3:${b3.digest('hex')}`;
    const location = await client.startUpload('repo', '?digest-algorithm=blake3');
    await client.request('PATCH', location, { body: bytes.subarray(0, 33_333) });
    await client.request('PATCH', location, { body: bytes.subarray(33_333) });
    expect((await client.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
    expect((await client.getBlob('repo', digest)).equals(bytes)).toBe(true);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob with ?from (201) and makes it pullable', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(100);
    await client.pushBlob('src/repo', bytes);
    const res = await client.request('POST', `/v2/dst/repo/blobs/uploads/?mount=${digest}&from=src/repo`);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/dst/repo/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect((await client.getBlob('dst/repo', digest)).equals(bytes)).toBe(true);
  });

  it('falls back to an upload session (202) when the source lacks the blob', async () => {
    const { client } = setup();
    const { bytes, digest } = randomContent(100);
    await client.pushBlob('src', bytes);
    const res = await client.request('POST', `/v2/dst/blobs/uploads/?mount=${digest}&from=elsewhere`);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\/dst\/blobs\/uploads\//);
    expect((await client.request('HEAD', `/v2/dst/blobs/${digest}`)).status).toBe(404);
  });

  it('mounts without ?from when automatic mount is on, and not when it is off', async () => {
    const { bytes, digest } = randomContent(100);
    const on = setup();
    await on.client.pushBlob('src', bytes);
    expect((await on.client.request('POST', `/v2/dst/blobs/uploads/?mount=${digest}`)).status).toBe(201);
    expect((await on.client.request('HEAD', `/v2/dst/blobs/${digest}`)).status).toBe(200);

    const off = setup({ features: { automaticMount: false } });
    await off.client.pushBlob('src', bytes);
    await off.client.pushBlob('dst', bytes);
    // Even with the blob already in the target, a from-less mount is a plain upload.
    expect((await off.client.request('POST', `/v2/dst/blobs/uploads/?mount=${digest}`)).status).toBe(202);
  });

  it('falls back to 202 when mounting is disabled or the caller may not pull the source', async () => {
    const { bytes, digest } = randomContent(100);
    const disabled = setup({ features: { mount: false } });
    await disabled.client.pushBlob('src', bytes);
    expect(
      (await disabled.client.request('POST', `/v2/dst/blobs/uploads/?mount=${digest}&from=src`)).status,
    ).toBe(202);

    const purposes: Array<string | undefined> = [];
    const guarded = setup({
      authorize: ({ action, repository, purpose }) => {
        if (action === 'pull') purposes.push(purpose);
        return !(action === 'pull' && repository === 'secret');
      },
    });
    await guarded.client.pushBlob('secret', bytes);
    const res = await guarded.client.request('POST', `/v2/dst/blobs/uploads/?mount=${digest}&from=secret`);
    expect(res.status).toBe(202);
    expect((await guarded.client.request('HEAD', `/v2/dst/blobs/${digest}`)).status).toBe(404);
    expect(purposes).toEqual(['mount', undefined]);
  });

  it('rejects an invalid mount digest or source name with 400', async () => {
    const { client } = setup();
    const bad = await client.request('POST', '/v2/dst/blobs/uploads/?mount=sha256:zz&from=src');
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('DIGEST_INVALID');
    const badFrom = await client.request(
      'POST',
      `/v2/dst/blobs/uploads/?mount=${randomContent(1).digest}&from=../x`,
    );
    expect(badFrom.status).toBe(400);
    expect(await errorCode(badFrom)).toBe('NAME_INVALID');
  });
});

describe('upload limits and toggles', () => {
  it('advertises OCI-Chunk-Min-Length when configured', async () => {
    const { client } = setup({ limits: { chunkMinLength: 5 * 1024 * 1024 } });
    const res = await client.request('POST', '/v2/repo/blobs/uploads/');
    expect(res.headers.get('oci-chunk-min-length')).toBe(String(5 * 1024 * 1024));
    const plain = setup();
    expect(
      (await plain.client.request('POST', '/v2/repo/blobs/uploads/')).headers.get('oci-chunk-min-length'),
    ).toBeNull();
  });

  it('refuses chunks above chunkMaxLength with 413 and keeps the session usable', async () => {
    const { client } = setup({ limits: { chunkMaxLength: 1000 } });
    const { bytes, digest } = randomContent(1500);
    const location = await client.startUpload('repo');
    const big = await client.request('PATCH', location, { body: bytes });
    expect(big.status).toBe(413);
    // Streamed without a declared length: refused as it crosses the limit.
    const streamed = await client.request('PATCH', location, {
      body: new ReadableStream({
        start(c) {
          c.enqueue(bytes);
          c.close();
        },
      }),
    });
    expect(streamed.status).toBe(413);
    expect((await client.request('GET', location)).headers.get('range')).toBe('0-0');
    await client.request('PATCH', location, { body: bytes.subarray(0, 1000) });
    await client.request('PATCH', location, { body: bytes.subarray(1000) });
    expect((await client.request('PUT', `${location}?digest=${digest}`)).status).toBe(201);
  });

  it('refuses blobs above blobMaxBytes with 413 and stores nothing', async () => {
    const { client, registry } = setup({ limits: { blobMaxBytes: 1000 } });
    const { bytes, digest } = randomContent(1001);
    const post = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { body: bytes });
    expect(post.status).toBe(413);
    const location = await client.startUpload('repo');
    await client.request('PATCH', location, { body: bytes.subarray(0, 600) });
    expect((await client.request('PATCH', location, { body: bytes.subarray(600) })).status).toBe(413);
    expect(await all(registry.storage.blobs.list())).toEqual([]);
  });

  it('answers a single-POST upload with a session when monolithic POST is off', async () => {
    const { client, registry } = setup({ features: { monolithicPost: false } });
    const { bytes, digest } = randomContent(100);
    const res = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${digest}`, { body: bytes });
    expect(res.status).toBe(202);
    expect(await registry.storage.blobs.stat(digest)).toBeNull();
    const put = await client.request('PUT', `${client.location(res)}?digest=${digest}`, { body: bytes });
    expect(put.status).toBe(201);
  });

  it('rejects a body shorter or longer than its Content-Length / Content-Range', async () => {
    const { client, registry } = setup();
    const { bytes, digest } = randomContent(100);
    const location = await client.startUpload('repo');
    const mismatch = await client.request('PATCH', location, {
      body: bytes,
      headers: { 'Content-Range': '0-49' },
    });
    expect(mismatch.status).toBe(400);
    expect(await errorCode(mismatch)).toBe('SIZE_INVALID');
    expect((await client.request('GET', location)).headers.get('range')).toBe('0-0');
    const malformed = await client.request('PATCH', location, {
      body: bytes,
      headers: { 'Content-Range': 'abc' },
    });
    expect(malformed.status).toBe(400);
    const backwards = await client.request('PATCH', location, {
      body: bytes,
      headers: { 'Content-Range': '50-10' },
    });
    expect(backwards.status).toBe(416);
    expect(await registry.storage.blobs.stat(digest)).toBeNull();
  });
});

describe('concurrent uploads of the same content', () => {
  it('commit one at a time per digest, and all succeed; other digests commit at once', async () => {
    const inner = createMemoryStorage();
    let running = 0;
    let most = 0;
    const byDigest: Record<string, number> = {};
    const storage: RegistryStorage = {
      ...inner,
      uploads: wrapUploads(inner.uploads, {
        async commit(id, options) {
          running++;
          byDigest[options.digest] = (byDigest[options.digest] ?? 0) + 1;
          most = Math.max(most, byDigest[options.digest]!);
          try {
            // Long enough for the other sessions' commits to arrive meanwhile.
            await new Promise((resolve) => setTimeout(resolve, 20));
            await inner.uploads.commit(id, options);
          } finally {
            running--;
            byDigest[options.digest]!--;
          }
        },
      }),
    };
    let overlapOfDifferentDigests = 0;
    const registry = createRegistry({ storage });
    const client = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(new Request(input, init)),
    );
    const same = randomContent(3000);
    const other = randomContent(3000);
    const watch = setInterval(() => {
      overlapOfDifferentDigests = Math.max(overlapOfDifferentDigests, running);
    }, 1);
    try {
      const digests = await Promise.all([
        ...Array.from({ length: 6 }, (_, i) => client.pushBlob(`r${i % 3}`, same.bytes, 'chunked', 1000)),
        client.pushBlob('r9', other.bytes, 'chunked', 1000),
      ]);
      expect(digests).toEqual([...Array(6).fill(same.digest), other.digest]);
    } finally {
      clearInterval(watch);
    }
    expect(most).toBe(1);
    expect(overlapOfDifferentDigests).toBe(2);
    for (const repo of ['r0', 'r1', 'r2'])
      expect((await client.getBlob(repo, same.digest)).equals(same.bytes)).toBe(true);
    expect((await client.getBlob('r9', other.digest)).equals(other.bytes)).toBe(true);
  });
});
