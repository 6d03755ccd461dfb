import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasTool,
  makeRealImage,
  OciClient,
  run,
  type ServerProcess,
  sha256,
  startServer,
  type TestImage,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStorage, type DistributionRegistry, startDistribution, tempDir } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** Both registries are present on CI (Debian packages docker-registry and skopeo). */
const tools = hasTool('docker-registry') && hasTool('skopeo');

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string }>;
}

/** Every manifest type either registry serves (distribution refuses OCI without it). */
const ACCEPT = [
  OCI_MANIFEST,
  DOCKER_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** GETs a manifest the way real clients do, with an Accept header. */
async function getManifest(
  client: OciClient,
  repo: string,
  reference: string,
): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const res = await client.request('GET', `/v2/${repo}/manifests/${reference}`, {
    headers: { Accept: ACCEPT },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(res.status, bytes.toString()).toBe(200);
  return {
    bytes,
    mediaType: res.headers.get('content-type') ?? '',
    digest: res.headers.get('docker-content-digest') ?? '',
  };
}

/** Pulls an image through `client` and checks every byte against the expected digests. */
async function pullAndCheck(
  client: OciClient,
  repo: string,
  tag: string,
  expected: { digest: string; mediaType: string; layers: string[]; image?: TestImage },
): Promise<void> {
  const manifest = await getManifest(client, repo, tag);
  expect(sha256(manifest.bytes)).toBe(expected.digest);
  expect(manifest.digest).toBe(expected.digest);
  expect(manifest.mediaType).toBe(expected.mediaType);
  if (expected.image) expect(manifest.bytes.equals(expected.image.manifest.bytes)).toBe(true);
  const parsed = JSON.parse(manifest.bytes.toString('utf8')) as Manifest;
  expect(parsed.layers.map((l) => l.digest)).toEqual(expected.layers);
  for (const digest of [parsed.config.digest, ...expected.layers]) {
    const bytes = await client.getBlob(repo, digest);
    expect(sha256(bytes)).toBe(digest);
    const blob =
      expected.image && [expected.image.config, ...expected.image.layers].find((b) => b.digest === digest);
    if (blob) expect(bytes.equals(blob.bytes)).toBe(true);
  }
  const byDigest = await getManifest(client, repo, expected.digest);
  expect(byDigest.bytes.equals(manifest.bytes)).toBe(true);
}

/**
 * Copies `docker://<host>/<repo>:<tag>` with skopeo into a `dir:` copy (which keeps the manifest
 * bytes as served) and checks the manifest digest and every layer.
 */
async function skopeoPullAndCheck(
  host: string,
  repo: string,
  tag: string,
  into: string,
  expected: { digest: string; layers: string[] },
): Promise<void> {
  await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/${repo}:${tag}`, `dir:${into}`]);
  const manifest = await readFile(join(into, 'manifest.json'));
  expect(sha256(manifest)).toBe(expected.digest);
  for (const digest of expected.layers) {
    expect(sha256(await readFile(join(into, digest.slice('sha256:'.length))))).toBe(digest);
  }
}

describe.skipIf(!tools)("interop with distribution's docker-registry on one root (fs)", () => {
  let work: { dir: string; remove: () => Promise<void> };
  let wharf: ServerProcess | undefined;
  let distribution: DistributionRegistry | undefined;

  beforeEach(async () => {
    work = await tempDir('interop');
  });

  afterEach(async () => {
    await wharf?.stop();
    await distribution?.stop();
    wharf = undefined;
    distribution = undefined;
    await work.remove();
  });

  it('serves through docker-registry what skopeo pushed to wharf', async () => {
    const root = join(work.dir, 'root');
    const image = makeRealImage([{ randomFile: 3 * 1024 * 1024 }, { randomFile: 5000 }, {}]);
    const source = join(work.dir, 'source');
    await writeOciLayout(source, [{ tag: 'v1', image }]);
    wharf = await startServer({ env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root } });
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${source}:v1`,
      `docker://${wharf.host}/interop/app:v1`,
    ]);
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${source}:v1`,
      `docker://${wharf.host}/interop/app:v2`,
    ]);

    // docker-registry serves the same root while wharf keeps running.
    distribution = await startDistribution(root, work.dir);
    const dist = new OciClient(distribution.url);
    const layers = image.layers.map((l) => l.digest);
    const expected = { digest: image.manifest.digest, mediaType: OCI_MANIFEST, layers, image };
    await pullAndCheck(dist, 'interop/app', 'v1', expected);
    await pullAndCheck(dist, 'interop/app', 'v2', expected);
    expect(await dist.tags('interop/app')).toEqual(['v1', 'v2']);
    const catalog = (await (await dist.request('GET', '/v2/_catalog')).json()) as { repositories: string[] };
    expect(catalog.repositories).toEqual(['interop/app']);
    await skopeoPullAndCheck(distribution.host, 'interop/app', 'v1', join(work.dir, 'pulled'), expected);

    // A tag wharf moves or deletes is seen by docker-registry at once.
    const other = makeRealImage([{ randomFile: 1000 }]);
    const wharfClient = new OciClient(wharf.url);
    await wharfClient.pushImage('interop/app', 'v2', other, 'chunked');
    await pullAndCheck(dist, 'interop/app', 'v2', {
      digest: other.manifest.digest,
      mediaType: OCI_MANIFEST,
      layers: other.layers.map((l) => l.digest),
      image: other,
    });
    const del = await wharfClient.request('DELETE', '/v2/interop/app/manifests/v1');
    expect(del.status).toBe(202);
    expect(await dist.tags('interop/app')).toEqual(['v2']);
    expect(await checkStorage(root)).toEqual([]);
  });

  it('serves through wharf what skopeo pushed to docker-registry', async () => {
    const root = join(work.dir, 'root');
    const image = makeRealImage([{ randomFile: 2 * 1024 * 1024 }, { randomFile: 100 }]);
    const source = join(work.dir, 'source');
    await writeOciLayout(source, [{ tag: 'v1', image }]);
    distribution = await startDistribution(root, work.dir);
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${source}:v1`,
      `docker://${distribution.host}/interop/oci:v1`,
    ]);
    // Converted to Docker schema 2 on the way: distribution stores no media type, wharf must
    // still answer with the right one.
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      `oci:${source}:v1`,
      `docker://${distribution.host}/interop/docker:latest`,
    ]);
    const dockerDigest = sha256(
      Buffer.from(
        (
          await run('skopeo', [
            'inspect',
            '--raw',
            '--tls-verify=false',
            `docker://${distribution.host}/interop/docker:latest`,
          ])
        ).stdout,
      ),
    );
    // A session docker-registry left open is not a repository for wharf.
    const dist = new OciClient(distribution.url);
    await dist.startUpload('interop/only-upload');

    wharf = await startServer({ env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root } });
    const client = new OciClient(wharf.url);
    const layers = image.layers.map((l) => l.digest);
    const oci = { digest: image.manifest.digest, mediaType: OCI_MANIFEST, layers, image };
    await pullAndCheck(client, 'interop/oci', 'v1', oci);
    await pullAndCheck(client, 'interop/docker', 'latest', {
      digest: dockerDigest,
      mediaType: DOCKER_MANIFEST,
      layers,
    });
    expect(await client.tags('interop/oci')).toEqual(['v1']);
    const catalog = (await (await client.request('GET', '/v2/_catalog')).json()) as {
      repositories: string[];
    };
    expect(catalog.repositories).toEqual(['interop/docker', 'interop/oci']);
    await skopeoPullAndCheck(wharf.host, 'interop/oci', 'v1', join(work.dir, 'pulled'), oci);
    await skopeoPullAndCheck(wharf.host, 'interop/docker', 'latest', join(work.dir, 'pulled-docker'), {
      digest: dockerDigest,
      layers,
    });

    // wharf adds a tag and mounts the layers into a new repository; docker-registry serves both.
    const add = await client.putManifest(
      'interop/oci',
      'v1.1',
      (await client.getManifest('interop/oci', 'v1')).bytes,
      OCI_MANIFEST,
    );
    expect(add.status).toBe(201);
    for (const blob of [image.config, ...image.layers]) {
      const mount = await client.request(
        'POST',
        `/v2/interop/copy/blobs/uploads/?mount=${blob.digest}&from=interop/oci`,
      );
      expect(mount.status).toBe(201);
    }
    const copied = await client.putManifest('interop/copy', 'v1', image.manifest, image.mediaType);
    expect(copied.status).toBe(201);
    expect(await dist.tags('interop/oci')).toEqual(['v1', 'v1.1']);
    await pullAndCheck(dist, 'interop/copy', 'v1', oci);
    expect(await checkStorage(root)).toEqual([]);
  });
});
