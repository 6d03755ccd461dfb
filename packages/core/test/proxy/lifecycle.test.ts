import { makeImage, sha256, type TestImage } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type Proxied, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pulls an image completely through the proxy and checks every digest. */
async function pull(proxy: Proxied, repo: string, tag: string, image: TestImage): Promise<void> {
  const manifest = await proxy.fetch(`/v2/${repo}/manifests/${tag}`);
  expect(manifest.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  await manifest.arrayBuffer();
  for (const blob of [image.config, ...image.layers]) {
    const res = await proxy.fetch(`/v2/${repo}/blobs/${blob.digest}`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
  }
}

async function stored(proxy: Proxied, image: TestImage): Promise<boolean[]> {
  return Promise.all(
    [image.manifest, image.config, ...image.layers].map(
      async (c) => (await proxy.storage.blobs.stat(c.digest)) !== null,
    ),
  );
}

describe('the lifecycle of cached content', () => {
  it('removes images not pulled for maxUnusedAge, keeps the others, and pulls them again on demand', async () => {
    upstream = await startUpstream();
    const old = makeImage({ layers: [1000, 2000] });
    const recent = makeImage({ layers: [3000] });
    await upstream.client.pushImage('library/old', 'v1', old);
    await upstream.client.pushImage('library/recent', 'v1', recent);
    const proxy = proxied({
      upstreams: [
        { namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', cache: { maxUnusedAge: 300 } },
      ],
    });
    await pull(proxy, 'hub/library/old', 'v1', old);
    await sleep(400);
    await pull(proxy, 'hub/library/recent', 'v1', recent);

    const report = await proxy.registry.gc({ gracePeriod: 0 });
    expect(report.cache).toEqual([
      expect.objectContaining({
        upstream: 'upstream.test',
        repository: 'hub/library/old',
        digest: old.manifest.digest,
        tags: ['v1'],
        reason: 'unused',
      }),
    ]);
    expect(await stored(proxy, old)).toEqual([false, false, false, false]);
    expect(await stored(proxy, recent)).toEqual([true, true, true]);
    expect(await proxy.storage.metadata.getTag('hub/library/old', 'v1')).toBeNull();

    await pull(proxy, 'hub/library/old', 'v1', old);
    expect(await stored(proxy, old)).toEqual([true, true, true, true]);
  });

  it('keeps the cache within maxBytes, removing the least recently pulled first', async () => {
    upstream = await startUpstream();
    const images = [
      makeImage({ layers: [40_000] }),
      makeImage({ layers: [40_000] }),
      makeImage({ layers: [40_000] }),
    ];
    for (const [i, image] of images.entries())
      await upstream.client.pushImage(`library/app${i}`, 'v1', image);
    const proxy = proxied({
      upstreams: [
        { namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', cache: { maxBytes: 100_000 } },
      ],
    });
    for (const [i, image] of images.entries()) {
      await pull(proxy, `hub/library/app${i}`, 'v1', image);
      await sleep(20);
    }
    const report = await proxy.registry.gc({ gracePeriod: 0, dryRun: true });
    expect(report.cache.map((e) => [e.repository, e.reason])).toEqual([['hub/library/app0', 'budget']]);
    expect(await stored(proxy, images[0]!)).toEqual([true, true, true]);
    await proxy.registry.gc({ gracePeriod: 0 });
    expect(await stored(proxy, images[0]!)).toEqual([false, false, false]);
    expect(await stored(proxy, images[1]!)).toEqual([true, true, true]);
    expect(await stored(proxy, images[2]!)).toEqual([true, true, true]);
  });

  it('never removes an image while a pull is streaming it', async () => {
    upstream = await startUpstream();
    const image = makeImage({ layers: [2 * 1024 * 1024] });
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = proxied({
      upstreams: [
        { namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', cache: { maxUnusedAge: 1 } },
      ],
    });
    const manifest = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    await manifest.arrayBuffer();
    upstream.fault = (req) => (req.url?.includes('/blobs/') ? { chunkDelay: 10 } : undefined);
    const layer = image.layers[0]!;
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${layer.digest}`);
    await sleep(20);
    const during = await proxy.registry.gc({ gracePeriod: 0 });
    expect(during.cache).toEqual([]);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(layer.digest);
    await expect.poll(() => proxy.storage.metadata.hasBlobLink('hub/library/app', layer.digest)).toBe(true);
    await sleep(10);
    const after = await proxy.registry.gc({ gracePeriod: 0 });
    expect(after.cache.map((e) => e.digest)).toEqual([image.manifest.digest]);
  });
});
