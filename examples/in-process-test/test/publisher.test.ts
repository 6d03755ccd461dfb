import { gzipSync } from 'node:zlib';
import { createRegistry } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { publishImage } from '../src/publisher.js';

const layer = gzipSync('hello from a layer\n');
const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };

describe('publishImage against an in-process registry', () => {
  it('pushes an image that pulls back byte for byte', async () => {
    // In-memory storage, no port, no disk: `registry.fetch` stands in for the network.
    const registry = createRegistry();
    const digest = await publishImage({
      registry: 'http://registry.local',
      fetch: registry.fetch,
      repository: 'acme/app',
      tag: 'v1',
      config,
      layers: [layer],
    });

    const res = await registry.fetch('/v2/acme/app/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const manifest = (await res.json()) as { layers: Array<{ digest: string }> };
    const blob = await registry.fetch(`/v2/acme/app/blobs/${manifest.layers[0]!.digest}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
  });

  it('uploads only the blobs the registry does not have yet', async () => {
    const registry = createRegistry();
    const requests: string[] = [];
    const recording = (url: string, init?: RequestInit) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
      return registry.fetch(url, init);
    };
    const options = { registry: 'http://registry.local', fetch: recording, repository: 'acme/app', config };
    await publishImage({ ...options, tag: 'v1', layers: [layer] });
    requests.length = 0;
    await publishImage({ ...options, tag: 'v2', layers: [layer] });
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    expect(requests.at(-1)).toBe('PUT /v2/acme/app/manifests/v2');
  });

  it("fails with the registry's answer when the push is refused", async () => {
    const registry = createRegistry({ authorize: ({ action }) => action !== 'push' });
    await expect(
      publishImage({
        registry: 'http://registry.local',
        fetch: registry.fetch,
        repository: 'acme/app',
        tag: 'v1',
        config,
        layers: [layer],
      }),
    ).rejects.toThrow(/403 .*DENIED/);
  });
});
