import { gzipSync } from 'node:zlib';
import { createTestRegistry, type TestRegistry } from '@wharf/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { publishImage } from '../src/publisher.js';

const layer = gzipSync('hello from a layer\n');
const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };

let registry: TestRegistry;
afterEach(() => registry.close());

/** Publishes the test image through the registry's in-process `fetch`. */
function publish(repository = 'acme/app', tag = 'v1'): Promise<string> {
  return publishImage({
    registry: 'http://registry.local',
    fetch: registry.fetch,
    repository,
    tag,
    config,
    layers: [layer],
  });
}

describe('publishImage against a test registry', () => {
  it('pushes an image that pulls back byte for byte', async () => {
    // In process, in memory: `registry.fetch` stands in for the network.
    registry = await createTestRegistry();
    const digest = await publish();

    const res = await registry.fetch('/v2/acme/app/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const manifest = (await res.json()) as { layers: Array<{ digest: string }> };
    const blob = await registry.fetch(`/v2/acme/app/blobs/${manifest.layers[0]!.digest}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
  });

  it('uploads only the blobs the registry does not have yet', async () => {
    registry = await createTestRegistry();
    await publish('acme/app', 'v1');
    const before = registry.requests.length;
    await publish('acme/app', 'v2');
    const second = registry.requests.slice(before);
    // Every request is recorded: the second push checked both blobs and uploaded none.
    expect(second.map((r) => `${r.method} ${r.route} ${r.status}`)).toEqual([
      'HEAD blob 200',
      'HEAD blob 200',
      'PUT manifest 201',
    ]);
  });

  it("fails with the registry's answer when the push is refused", async () => {
    registry = await createTestRegistry({ authorize: ({ action }) => action !== 'push' });
    await expect(publish()).rejects.toThrow(/403 .*DENIED/);
  });

  it('reports a registry that is down for the manifest push', async () => {
    registry = await createTestRegistry({
      faults: [{ route: 'manifest', method: 'PUT', effect: { type: 'status', status: 503, retryAfter: 30 } }],
    });
    await expect(publish()).rejects.toThrow(/pushing the manifest: registry answered 503 .*UNAVAILABLE/);
  });

  it('meets ECR, which wants the repository created first', async () => {
    // ECR's quirks without its Basic authentication (the publisher sends no credentials).
    registry = await createTestRegistry({ quirks: ['ecr', { auth: null }] });
    await expect(publish('team/app')).rejects.toThrow(/404 .*does not exist in the registry/);
    registry.createRepository('team/app');
    expect(await publish('team/app')).toMatch(/^sha256:/);
  });
});
