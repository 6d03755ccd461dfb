import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestRegistry, generateImage, type TestRegistry } from '../src/index.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [OCI_INDEX, OCI_MANIFEST].join(', ');

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let registry: TestRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

describe('createTestRegistry', () => {
  it('serves seeded content in process and over a loopback socket, byte for byte the same', async () => {
    registry = await createTestRegistry({ images: { 'acme/app:v1': { layers: 2 } } });
    const inProcess = await registry.fetch('/v2/acme/app/manifests/v1', { headers: { Accept: ACCEPT } });
    expect(inProcess.status).toBe(200);
    const manifest = Buffer.from(await inProcess.arrayBuffer());
    expect(inProcess.headers.get('docker-content-digest')).toBe(sha256(manifest));

    const url = await registry.url();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await registry.url()).toBe(url);
    expect(await registry.host()).toBe(new URL(url).host);
    const overSocket = await fetch(`${url}/v2/acme/app/manifests/v1`, { headers: { Accept: ACCEPT } });
    expect(Buffer.from(await overSocket.arrayBuffer()).equals(manifest)).toBe(true);

    const layer = (JSON.parse(manifest.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[1]!;
    const blob = Buffer.from(await (await fetch(`${url}/v2/acme/app/blobs/${layer.digest}`)).arrayBuffer());
    expect(sha256(blob)).toBe(layer.digest);
    expect(gunzipSync(blob).byteLength).toBeGreaterThan(512);
  });

  it('records every request and response, from both transports', async () => {
    registry = await createTestRegistry({ images: { 'acme/app:v1': {} } });
    await registry.fetch('/v2/', { headers: { 'User-Agent': 'my-client/1.0' } });
    await fetch(`${await registry.url()}/v2/acme/app/tags/list?n=5`);
    await registry.fetch('/v2/acme/missing/manifests/v1', { method: 'HEAD' });

    expect(registry.requests.map((r) => [r.transport, r.method, r.url, r.route, r.status])).toEqual([
      ['fetch', 'GET', '/v2/', 'base', 200],
      ['socket', 'GET', '/v2/acme/app/tags/list?n=5', 'tags', 200],
      ['fetch', 'HEAD', '/v2/acme/missing/manifests/v1', 'manifest', 404],
    ]);
    expect(registry.requests[0]!.headers['user-agent']).toBe('my-client/1.0');
    expect(registry.requests[1]!.path).toBe('/v2/acme/app/tags/list');
    expect(registry.requests[1]!.repository).toBe('acme/app');
    expect(registry.requests[1]!.responseHeaders['content-type']).toBe('application/json');
    expect(registry.requests[2]!.target).toBe('registry');
  });

  it('reset() starts over: the seeded images again, pushes gone, nothing recorded', async () => {
    registry = await createTestRegistry({ images: { 'acme/app:v1': {} } });
    const pushed = await registry.fetch(`/v2/acme/other/blobs/uploads/?digest=${sha256(Buffer.from('x'))}`, {
      method: 'POST',
      body: 'x',
    });
    expect(pushed.status).toBe(201);
    await registry.reset();
    expect(registry.requests).toEqual([]);
    expect(
      (await registry.fetch(`/v2/acme/other/blobs/${sha256(Buffer.from('x'))}`, { method: 'HEAD' })).status,
    ).toBe(404);
    expect((await registry.fetch('/v2/acme/app/tags/list')).status).toBe(200);
  });

  it('close() stops the socket', async () => {
    registry = await createTestRegistry();
    const url = await registry.url();
    expect((await fetch(`${url}/v2/`)).status).toBe(200);
    await registry.close();
    await expect(fetch(`${url}/v2/`)).rejects.toThrow();
  });
});

describe('seeding from a description', () => {
  it('generates valid, deterministic images, an index and referrers', async () => {
    const description = { platforms: ['linux/amd64', 'linux/arm64'], layers: 3, referrers: ['sbom'] };
    const first = generateImage('app:v1', description);
    const again = generateImage('app:v1', description);
    expect(again.image).toEqual(first.image);
    expect(generateImage('app:v2', description).image.digest).not.toBe(first.image.digest);

    registry = await createTestRegistry();
    const [image] = await registry.seed({ 'app:v1': description });
    expect(image).toEqual(first.image);
    expect(image!.mediaType).toBe(OCI_INDEX);
    expect(image!.manifests.map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64']);

    const index = await registry.fetch('/v2/app/manifests/v1', { headers: { Accept: ACCEPT } });
    const indexBytes = Buffer.from(await index.arrayBuffer());
    expect(sha256(indexBytes)).toBe(image!.digest);
    const parsed = JSON.parse(indexBytes.toString('utf8')) as {
      manifests: Array<{ digest: string; platform: { architecture: string } }>;
    };
    expect(parsed.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    for (const child of image!.manifests) {
      expect(child.layers).toHaveLength(3);
      const res = await registry.fetch(`/v2/app/manifests/${child.digest}`, { headers: { Accept: ACCEPT } });
      expect(res.status).toBe(200);
      const config = await registry.fetch(`/v2/app/blobs/${child.config.digest}`);
      const json = (await config.json()) as { architecture: string; rootfs: { diff_ids: string[] } };
      expect(`linux/${json.architecture}`).toBe(child.platform);
      // diff ids are the digests of the uncompressed layers.
      const layer = Buffer.from(
        await (await registry.fetch(`/v2/app/blobs/${child.layers[0]!.digest}`)).arrayBuffer(),
      );
      expect(sha256(gunzipSync(layer))).toBe(json.rootfs.diff_ids[0]);
    }

    const referrers = await registry.fetch(`/v2/app/referrers/${image!.digest}`);
    const list = (await referrers.json()) as { manifests: Array<{ digest: string; artifactType: string }> };
    expect(list.manifests).toEqual([
      expect.objectContaining({ digest: image!.referrers[0]!.digest, artifactType: 'application/spdx+json' }),
    ]);
  });

  it('writes Docker media types when asked, and extra tags', async () => {
    registry = await createTestRegistry({ images: { 'app:v1': { format: 'docker', tags: ['latest'] } } });
    const res = await registry.fetch('/v2/app/manifests/latest', {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(((await (await registry.fetch('/v2/app/tags/list')).json()) as { tags: string[] }).tags).toEqual([
      'latest',
      'v1',
    ]);
  });

  it('refuses descriptions it cannot generate', () => {
    expect(() => generateImage('app:v1', { platforms: ['amd64'] })).toThrow(/os\/architecture/);
    expect(() => generateImage('app:v1', { referrers: ['nonsense'] })).toThrow(/media type/);
    expect(() => generateImage('app:v1', { layers: -1 })).toThrow(/whole number/);
  });
});
