import { makeImage, randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type Proxied, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

function setup(extra: Record<string, unknown> = {}): Proxied {
  return proxied({
    upstreams: [{ namespace: 'upstream.test', url: upstream!.url, prefix: 'hub/', ...extra }],
  });
}

function upstreamGets(kind: 'manifests' | 'blobs', method = 'GET'): number {
  return upstream!.seen.filter((s) => s.method === method && s.path.includes(`/${kind}/`)).length;
}

describe('pulling manifests through an upstream', () => {
  it('fetches a tag once, stores it, and serves it from the cache within the freshness interval', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = setup();

    const first = await proxy.fetch('/v2/hub/library/app/manifests/v1', { headers: { Accept: ACCEPT } });
    expect(first.status).toBe(200);
    expect(first.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(first.headers.get('content-type')).toBe(image.mediaType);
    expect(Buffer.from(await first.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);

    // Cached in the repository named by the prefix, exactly as the upstream sent it.
    const { metadata } = proxy.storage;
    expect(await metadata.getTag('hub/library/app', 'v1')).toBe(image.manifest.digest);
    expect(await metadata.getManifest('hub/library/app', image.manifest.digest)).not.toBeNull();

    const requests = upstream.seen.length;
    const second = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(second.status).toBe(200);
    expect(Buffer.from(await second.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
    expect(upstream.seen.length).toBe(requests);
    const byDigest = await proxy.fetch(`/v2/hub/library/app/manifests/${image.manifest.digest}`);
    expect(byDigest.status).toBe(200);
    expect(upstream.seen.length).toBe(requests);
  });

  it('revalidates a tag with a HEAD once the interval passed, and follows it when it moved', async () => {
    upstream = await startUpstream();
    const one = makeImage();
    const two = makeImage();
    await upstream.client.pushImage('library/app', 'latest', one);
    const proxy = setup({ tagFreshness: 0 });

    expect(
      (await proxy.fetch('/v2/hub/library/app/manifests/latest')).headers.get('docker-content-digest'),
    ).toBe(one.manifest.digest);
    const gets = upstreamGets('manifests');
    const again = await proxy.fetch('/v2/hub/library/app/manifests/latest');
    expect(again.headers.get('docker-content-digest')).toBe(one.manifest.digest);
    expect(upstreamGets('manifests')).toBe(gets);
    expect(upstreamGets('manifests', 'HEAD')).toBe(2);

    await upstream.client.pushImage('library/app', 'latest', two);
    const moved = await proxy.fetch('/v2/hub/library/app/manifests/latest');
    expect(moved.headers.get('docker-content-digest')).toBe(two.manifest.digest);
    expect(Buffer.from(await moved.arrayBuffer()).equals(two.manifest.bytes)).toBe(true);
    expect(await proxy.storage.metadata.getTag('hub/library/app', 'latest')).toBe(two.manifest.digest);
    // Checks keep their connection alive rather than opening one each.
    for (let i = 0; i < 5; i++)
      expect((await proxy.fetch('/v2/hub/library/app/manifests/latest')).status).toBe(200);
    expect(upstream.connections()).toBeLessThanOrEqual(2);
  });

  it('reads the freshness interval on the registry clock', async () => {
    upstream = await startUpstream();
    await upstream.client.pushImage('library/app', 'v1', makeImage());
    let now = Date.UTC(2030, 0, 1);
    const proxy = proxied({
      clock: { now: () => now },
      upstreams: [{ namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', tagFreshness: 60_000 }],
    });
    const pull = async () => (await proxy.fetch('/v2/hub/library/app/manifests/v1')).status;
    expect(await pull()).toBe(200);
    const heads = upstreamGets('manifests', 'HEAD');
    const gets = upstreamGets('manifests');
    now += 59_000;
    expect(await pull()).toBe(200);
    expect(upstreamGets('manifests', 'HEAD') + upstreamGets('manifests')).toBe(heads + gets);
    // A minute later on the clock, not in real time: the tag is checked again.
    now += 2_000;
    expect(await pull()).toBe(200);
    expect(upstreamGets('manifests', 'HEAD')).toBe(heads + 1);
  });

  it('serves cached tags with a Warning when the upstream is gone, and fails fast for unknown ones', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = setup({ tagFreshness: 0 });
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    await upstream.stop();
    upstream = undefined;

    const stale = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(stale.status).toBe(200);
    expect(stale.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(sha256(Buffer.from(await stale.arrayBuffer()))).toBe(image.manifest.digest);
    expect(stale.headers.get('warning')).toMatch(/^299 - ".*unreachable.*"$/);

    const unknown = await proxy.fetch('/v2/hub/library/app/manifests/never-seen');
    expect(unknown.status).toBe(502);
    const body = (await unknown.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.message).toMatch(/upstream upstream\.test: unreachable/);
  });

  it('answers 404 MANIFEST_UNKNOWN for what the upstream does not have, and drops a tag it deleted', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = setup({ tagFreshness: 0 });
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    const missing = await proxy.fetch('/v2/hub/library/app/manifests/nope');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'MANIFEST_UNKNOWN',
    );

    expect((await upstream.registry.fetch('/v2/library/app/manifests/v1', { method: 'DELETE' })).status).toBe(
      202,
    );
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(404);
    expect(await proxy.storage.metadata.getTag('hub/library/app', 'v1')).toBeNull();
  });

  it('refuses a manifest whose bytes do not match the digest, storing nothing', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    upstream.fault = (req) => (req.url?.includes('/manifests/') ? { corrupt: true } : undefined);
    const proxy = setup();
    const res = await proxy.fetch(`/v2/hub/library/app/manifests/${image.manifest.digest}`);
    expect(res.status).toBe(502);
    expect(await proxy.storage.blobs.stat(image.manifest.digest)).toBeNull();
    expect(await proxy.storage.metadata.getManifest('hub/library/app', image.manifest.digest)).toBeNull();
  });
});

describe('pulling blobs through an upstream', () => {
  it('streams a cold blob, verifies and stores it, then serves it from storage', async () => {
    upstream = await startUpstream();
    const blob = randomContent(3 * 1024 * 1024 + 17);
    await upstream.client.pushBlob('library/app', blob.bytes);
    const proxy = setup();
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(blob.bytes.byteLength));
    expect(res.headers.get('docker-content-digest')).toBe(blob.digest);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);

    await expect.poll(() => proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest)).toBe(true);
    expect((await proxy.storage.blobs.stat(blob.digest))?.size).toBe(blob.bytes.byteLength);
    const again = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(sha256(Buffer.from(await again.arrayBuffer()))).toBe(blob.digest);
    expect(upstreamGets('blobs')).toBe(1);
  });

  it('makes one upstream request for concurrent cold pulls of the same blob', async () => {
    upstream = await startUpstream();
    const blob = randomContent(8 * 1024 * 1024);
    await upstream.client.pushBlob('library/app', blob.bytes);
    upstream.fault = (req) => (req.url?.includes('/blobs/') ? { chunkDelay: 2 } : undefined);
    const proxy = setup();
    const pulls = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
        return { status: res.status, digest: sha256(Buffer.from(await res.arrayBuffer())) };
      }),
    );
    expect(pulls).toEqual(Array.from({ length: 8 }, () => ({ status: 200, digest: blob.digest })));
    expect(upstreamGets('blobs')).toBe(1);
  });

  it('answers a Range request on a cold blob', async () => {
    upstream = await startUpstream();
    const blob = randomContent(2 * 1024 * 1024);
    await upstream.client.pushBlob('library/app', blob.bytes);
    const proxy = setup();
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`, {
      headers: { Range: 'bytes=1000000-1000099' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000000-1000099/${blob.bytes.byteLength}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(blob.bytes.subarray(1000000, 1000100))).toBe(true);
    await expect
      .poll(() => proxy.storage.blobs.stat(blob.digest).then((i) => i?.size))
      .toBe(blob.bytes.byteLength);
  });

  it('keeps filling for the others when a client disconnects mid-download', async () => {
    upstream = await startUpstream();
    const blob = randomContent(4 * 1024 * 1024);
    await upstream.client.pushBlob('library/app', blob.bytes);
    upstream.fault = (req) => (req.url?.includes('/blobs/') ? { chunkDelay: 5 } : undefined);
    const proxy = setup();
    const quitter = new AbortController();
    const first = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`, { signal: quitter.signal });
    const reader = first.body!.getReader();
    await reader.read();
    const second = proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    await reader.cancel();
    quitter.abort();
    const res = await second;
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    await expect.poll(() => proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest)).toBe(true);
    expect(upstreamGets('blobs')).toBe(1);
  });

  for (const [what, fault] of [
    ['a truncated body', { truncateAt: 1024 * 1024 }],
    ['a wrong digest', { corrupt: true }],
  ] as const) {
    it(`stores nothing and fails the client on ${what}`, async () => {
      upstream = await startUpstream();
      const blob = randomContent(2 * 1024 * 1024);
      await upstream.client.pushBlob('library/app', blob.bytes);
      upstream.fault = (req) => (req.url?.includes('/blobs/') ? fault : undefined);
      const proxy = setup();
      const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      await expect(res.arrayBuffer()).rejects.toThrow();
      // The failed download is over: nothing is left in storage.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await proxy.storage.blobs.stat(blob.digest)).toBeNull();
      expect(await proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest)).toBe(false);
      // A later pull, once the upstream behaves, gets the blob.
      upstream.fault = undefined;
      const retry = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
      expect(sha256(Buffer.from(await retry.arrayBuffer()))).toBe(blob.digest);
    });
  }

  it("passes the upstream's 429 on with its Retry-After and waits before asking again", async () => {
    upstream = await startUpstream();
    const blob = randomContent(1024);
    await upstream.client.pushBlob('library/app', blob.bytes);
    upstream.fault = () => ({ status: 429, headers: { 'Retry-After': '30' } });
    const proxy = setup();
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'TOOMANYREQUESTS',
    );
    const seen = upstream.seen.length;
    const again = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(again.status).toBe(429);
    expect(upstream.seen.length).toBe(seen);
    expect(await proxy.storage.blobs.stat(blob.digest)).toBeNull();
  });
});
