import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { hasTool, run, type ScratchDir, scratch } from '@wharf/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canRunDockerd, startDockerd } from '../../../test/e2e/dockerd.js';
import { createTestRegistry, SeedError, type TestRegistry } from '../src/index.js';

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

let work: ScratchDir;
let registry: TestRegistry | undefined;
beforeAll(async () => {
  work = await scratch('wharf-testing-seed-');
});
afterAll(async () => {
  await work?.remove();
});
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

/**
 * Checks an image loaded from an archive with uncompressed layers (docker save, docker-archive)
 * against the original: the same config, and layers whose digests are the config's diff ids.
 */
async function expectSameImageUncompressed(original: TestRegistry, copy: TestRegistry): Promise<void> {
  const before = await manifestOf(original, 'acme/app', 'v1');
  const after = await manifestOf(copy, 'acme/app', 'v1');
  expect(after.manifest.config.digest).toBe(before.manifest.config.digest);
  const config = await copy.fetch(`/v2/acme/app/blobs/${after.manifest.config.digest}`);
  const { rootfs } = (await config.json()) as { rootfs: { diff_ids: string[] } };
  expect(after.manifest.layers.map((l) => l.digest)).toEqual(rootfs.diff_ids);
  expect(after.manifest.layers).toHaveLength(before.manifest.layers.length);
}

async function manifestOf(target: TestRegistry, repository: string, reference: string) {
  const res = await target.fetch(`/v2/${repository}/manifests/${reference}`, { headers: { Accept: ACCEPT } });
  expect(res.status).toBe(200);
  return { digest: res.headers.get('docker-content-digest')!, manifest: (await res.json()) as Manifest };
}

describe('seeding from layouts and archives', () => {
  it('reports a missing index.json and a layout that names only tags without a repository', async () => {
    registry = await createTestRegistry();
    const empty = join(work.dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(registry.loadLayout(empty)).rejects.toThrow(SeedError);
    const layout = join(work.dir, 'tags-only');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    const manifest = Buffer.from(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
    );
    const hex = (await import('node:crypto')).createHash('sha256').update(manifest).digest('hex');
    await writeFile(join(layout, 'blobs', 'sha256', hex), manifest);
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            digest: `sha256:${hex}`,
            size: manifest.byteLength,
            annotations: { 'org.opencontainers.image.ref.name': 'v1' },
          },
        ],
      }),
    );
    await expect(registry.loadLayout(layout)).rejects.toThrow(/names only the tag "v1".*pass a repository/);
  });
});

describe.skipIf(!hasTool('skopeo'))('seeding from what skopeo writes', () => {
  let source: TestRegistry;
  let host: string;
  const skopeo = (args: string[]) => run('skopeo', args, { env: work.env, timeoutMs: 120_000 });

  beforeAll(async () => {
    source = await createTestRegistry({
      images: {
        'acme/app:v1': { layers: 2, layerSize: 300_000 },
        'acme/multi:v1': { platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] },
      },
    });
    host = await source.host();
  });
  afterAll(async () => {
    await source?.close();
  });

  it('loads an OCI layout directory, multi-platform index included, with the same digests', async () => {
    const layout = join(work.dir, 'layout');
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${host}/acme/multi:v1`,
      `oci:${layout}:v1`,
    ]);
    await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/acme/app:v1`, `oci:${layout}:app`]);
    registry = await createTestRegistry();
    const loaded = await registry.loadLayout(layout, { repository: 'copy' });
    const expected = await manifestOf(source, 'acme/multi', 'v1');
    expect(loaded.map((l) => [l.repository, l.tags, l.digest])).toEqual([
      ['copy', ['v1'], expected.digest],
      ['copy', ['app'], (await manifestOf(source, 'acme/app', 'v1')).digest],
    ]);
    expect((await manifestOf(registry, 'copy', 'v1')).digest).toBe(expected.digest);
    const child = (expected.manifest as unknown as { manifests: Array<{ digest: string }> }).manifests[2]!
      .digest;
    expect((await manifestOf(registry, 'copy', child)).digest).toBe(child);
  });

  it('loads an oci-archive tarball, and the same archive gzip-compressed', async () => {
    const archive = join(work.dir, 'app.tar');
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${host}/acme/app:v1`,
      `oci-archive:${archive}:v1`,
    ]);
    const compressed = `${archive}.gz`;
    await pipeline(createReadStream(archive), createGzip(), createWriteStream(compressed));
    const expected = await manifestOf(source, 'acme/app', 'v1');
    for (const path of [archive, compressed]) {
      registry = await createTestRegistry();
      const [loaded] = await registry.loadArchive(path, { repository: 'team/app' });
      expect(loaded).toMatchObject({ repository: 'team/app', tags: ['v1'], digest: expected.digest });
      const copy = await manifestOf(registry, 'team/app', 'v1');
      for (const layer of copy.manifest.layers) {
        const blob = await registry.fetch(`/v2/team/app/blobs/${layer.digest}`);
        expect(Number(blob.headers.get('content-length'))).toBeGreaterThan(300_000);
        await blob.arrayBuffer();
      }
      await registry.close();
    }
  });

  it('loads a docker-archive (the docker save format before Docker 25) named by its RepoTags', async () => {
    const archive = join(work.dir, 'docker.tar');
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${host}/acme/app:v1`,
      `docker-archive:${archive}:acme/app:v1`,
    ]);
    registry = await createTestRegistry();
    const [loaded] = await registry.loadArchive(archive);
    expect(loaded).toMatchObject({ repository: 'acme/app', tags: ['v1'] });
    await expectSameImageUncompressed(source, registry);
    const copy = await manifestOf(registry, 'acme/app', 'v1');
    expect(copy.manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar',
      'application/vnd.oci.image.layer.v1.tar',
    ]);
  });
});

describe.skipIf(!canRunDockerd())('seeding from docker save', () => {
  it('loads what a real docker save writes, under the names it carries', async () => {
    const source = await createTestRegistry({ images: { 'acme/app:v1': { layers: 2 } } });
    const host = await source.host();
    const docker = await startDockerd([host]);
    try {
      expect((await docker.docker(['pull', `${host}/acme/app:v1`], { timeoutMs: 120_000 })).code).toBe(0);
      const archive = join(work.dir, 'saved.tar');
      const saved = await docker.docker(['save', '-o', archive, `${host}/acme/app:v1`], {
        timeoutMs: 120_000,
      });
      expect(saved.code, saved.stderr).toBe(0);
      registry = await createTestRegistry();
      const [loaded] = await registry.loadArchive(archive);
      expect(loaded).toMatchObject({ repository: 'acme/app', tags: ['v1'] });
      await expectSameImageUncompressed(source, registry);
    } finally {
      await docker.stop();
      await source.close();
    }
  });
});
