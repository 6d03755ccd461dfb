import type { ProxyCacheEvent, RegistryEvent, UpstreamRequestEvent } from '@wharf/core';
import { makeImage, randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

describe('a slow, failing or busy upstream', () => {
  it('serves a cached tag stale when the upstream does not answer in time, and fails a cold one with 504', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    const proxy = proxied({
      upstreams: [
        {
          namespace: 'upstream.test',
          url: upstream.url,
          prefix: 'hub/',
          tagFreshness: 0,
          timeouts: { revalidate: 200, request: 400 },
        },
      ],
    });
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    upstream.fault = () => ({ hang: true });

    const stale = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(stale.status).toBe(200);
    expect(stale.headers.get('warning')).toMatch(/no answer within 200 ms/);
    // Asked again right away, the answer does not wait for the upstream a second time.
    const seen = upstream.seen.length;
    const again = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(again.headers.get('warning')).toMatch(/no answer/);
    expect(upstream.seen.slice(seen)).toEqual([]);

    const cold = await proxy.fetch('/v2/hub/library/app/manifests/v2');
    expect(cold.status).toBe(504);
  });

  it('sends a request again on a new connection when a kept-alive one was closed under it', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/app', 'v1', image);
    // Every request on a connection that already served one finds it closed.
    const served = new WeakSet<object>();
    upstream.fault = (req) => {
      if (served.has(req.socket)) return { reset: true };
      served.add(req.socket);
      return undefined;
    };
    // One connection at a time: the manifest's GET goes on the connection its tag's HEAD used.
    const proxy = proxied({
      upstreams: [{ namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', maxConcurrency: 1 }],
    });
    const res = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    expect(upstream.connections()).toBe(2);
  });

  it('keeps at most maxConcurrency requests in flight to the upstream', async () => {
    upstream = await startUpstream();
    const blobs = [1, 2, 3, 4].map(() => randomContent(256 * 1024));
    for (const blob of blobs) await upstream.client.pushBlob('library/app', blob.bytes);
    upstream.fault = () => ({ chunkDelay: 20 });
    const proxy = proxied({
      upstreams: [{ namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', maxConcurrency: 1 }],
    });
    const digests = await Promise.all(
      blobs.map(async (blob) => {
        const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
        return sha256(Buffer.from(await res.arrayBuffer()));
      }),
    );
    expect(digests).toEqual(blobs.map((b) => b.digest));
    expect(upstream.maxInFlight()).toBe(1);
  });

  it('reports hits, misses, stale answers, bytes fetched and failures', async () => {
    upstream = await startUpstream();
    const image = makeImage({ layers: [50_000] });
    await upstream.client.pushImage('library/app', 'v1', image);
    const events: RegistryEvent[] = [];
    const cache: ProxyCacheEvent[] = [];
    const requests: UpstreamRequestEvent[] = [];
    const proxy = proxied({
      upstreams: [{ namespace: 'upstream.test', url: upstream.url, prefix: 'hub/', tagFreshness: 0 }],
      onEvent: (event) => {
        events.push(event);
      },
      observer: {
        proxyCache: (event) => cache.push(event),
        upstreamRequest: (event) => requests.push(event),
      },
    });
    const layer = image.layers[0]!;
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    await (await proxy.fetch(`/v2/hub/library/app/blobs/${layer.digest}`)).arrayBuffer();
    await expect.poll(() => events.filter((e) => e.type === 'proxy.cached').length).toBe(2);
    await (await proxy.fetch(`/v2/hub/library/app/blobs/${layer.digest}`)).arrayBuffer();
    await upstream.stop();
    upstream = undefined;
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);

    expect(events.filter((e) => e.type === 'proxy.cached')).toMatchObject([
      {
        type: 'proxy.cached',
        upstream: 'upstream.test',
        repository: 'hub/library/app',
        kind: 'manifest',
        digest: image.manifest.digest,
        size: image.manifest.bytes.byteLength,
      },
      {
        type: 'proxy.cached',
        upstream: 'upstream.test',
        repository: 'hub/library/app',
        kind: 'blob',
        digest: layer.digest,
        size: 50_000,
      },
    ]);
    expect(events.find((e) => e.type === 'proxy.failed')).toMatchObject({
      reference: 'v1',
      status: 502,
      stale: true,
    });
    expect(cache.map((e) => `${e.kind}:${e.outcome}`)).toEqual([
      'manifest:miss',
      'tag:miss',
      'blob:miss',
      'blob:hit',
      'tag:stale',
    ]);
    const blobRequest = requests.find((r) => r.kind === 'blob');
    expect(blobRequest).toMatchObject({
      upstream: 'upstream.test',
      method: 'GET',
      status: 200,
      bytes: 50_000,
    });
    expect(requests.at(-1)).toMatchObject({
      kind: 'manifest',
      method: 'HEAD',
      status: undefined,
      error: 'unreachable',
    });
  });
});
