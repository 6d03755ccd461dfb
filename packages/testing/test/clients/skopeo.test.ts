import { join } from 'node:path';
import { hasTool, layoutBlob, layoutDigest, run, type ScratchDir, scratch } from '@wharf/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRegistry, type TestRegistry } from '../../src/index.js';
import { tagNames } from '../helpers.js';

const TLS = '--tls-verify=false';
const CREDS = '--creds=ci:secret';

/** skopeo against the test registry, as a user would run it. */
describe.skipIf(!hasTool('skopeo'))('skopeo sees the quirks and faults', () => {
  let work: ScratchDir;
  let registry: TestRegistry | undefined;
  const skopeo = (args: string[]) => run('skopeo', args, { env: work.env, timeoutMs: 120_000 });
  const json = async <T>(args: string[]) => JSON.parse((await skopeo(args)).stdout) as T;
  /** Copies an image from one repository of the test registry to another. */
  const copyWithin = async (from: string, to: string, extra: string[] = []) =>
    skopeo([
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ...extra,
      `docker://${await registry!.host()}/${from}`,
      `docker://${await registry!.host()}/${to}`,
    ]);

  beforeAll(async () => {
    work = await scratch('wharf-testing-skopeo-');
  });
  afterAll(async () => {
    await work?.remove();
  });
  afterEach(async () => {
    await registry?.close();
    registry = undefined;
  });

  it('retries a 429 after Retry-After and then succeeds', async () => {
    registry = await createTestRegistry({
      images: { 'acme/app:v1': {} },
      faults: [
        {
          route: 'manifest',
          method: 'GET',
          times: 1,
          effect: { type: 'status', status: 429, retryAfter: 1 },
        },
      ],
    });
    const [image] = await registry.seed({ 'acme/app:v2': {} });
    const raw = await skopeo(['inspect', TLS, '--raw', `docker://${await registry.host()}/acme/app:v2`]);
    expect(JSON.parse(raw.stdout).config.digest).toBe(image!.manifests[0]!.config.digest);
    const gets = registry.requests.filter((r) => r.route === 'manifest' && r.method === 'GET');
    expect(gets.map((r) => r.status)).toEqual([429, 200]);
    expect(gets[0]!.responseHeaders['retry-after']).toBe('1');
  });

  it('Docker Hub: pulls anonymously through the token dance and the CDN redirect', async () => {
    registry = await createTestRegistry({ quirks: 'dockerhub' });
    const [image] = await registry.seed({ 'library/alpine:3': { layers: 2 } });
    const layout = join(work.dir, 'hub');
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${await registry.host()}/library/alpine:3`,
      `oci:${layout}:3`,
    ]);
    expect(await layoutDigest(layout, '3')).toBe(image!.digest);
    for (const layer of image!.manifests[0]!.layers) {
      expect((await layoutBlob(layout, layer.digest)).byteLength).toBe(layer.size);
    }
    const tokens = registry.requests.filter((r) => r.target === 'token');
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens[0]!.url).toContain('scope=repository%3Alibrary%2Falpine%3Apull');
    const cdn = registry.requests.filter((r) => r.target === 'blobs');
    expect(cdn.length).toBeGreaterThanOrEqual(2);
    for (const request of cdn) {
      expect(request.status).toBe(200);
      expect(request.headers.authorization).toBeUndefined();
    }
    expect(registry.requests.some((r) => r.route === 'blob' && r.status === 307)).toBe(true);
  });

  it('GHCR: finds referrers under the fallback tag, as the spec tells clients to', async () => {
    registry = await createTestRegistry({ quirks: 'ghcr' });
    const [image] = await registry.seed({ 'owner/tool:v1': { referrers: ['sbom', 'signature'] } });
    const repo = `docker://${await registry.host()}/owner/tool`;
    const fallback = `sha256-${image!.digest.slice('sha256:'.length)}`;
    const tags = await json<{ Tags: string[] }>(['list-tags', TLS, repo]);
    expect(tags.Tags.sort()).toEqual([fallback, 'v1'].sort());
    const index = await json<{ manifests: Array<{ artifactType: string; digest: string }> }>([
      'inspect',
      TLS,
      '--raw',
      `${repo}:${fallback}`,
    ]);
    expect(index.manifests.map((m) => m.artifactType)).toEqual([
      'application/spdx+json',
      'application/vnd.dev.sigstore.bundle.v0.3+json',
    ]);
    expect(index.manifests.map((m) => m.digest)).toEqual(image!.referrers.map((r) => r.digest));
  });

  it('ECR: a push to a repository nobody created fails; created, it works; tags inspect without the digest header', async () => {
    registry = await createTestRegistry({ quirks: 'ecr', images: { 'team/app:v1': {} } });
    const host = await registry.host();
    const copy = (to: string) =>
      copyWithin('team/app:v1', to, ['--src-creds=ci:secret', '--dest-creds=ci:secret']);
    await expect(copy('team/new:v1')).rejects.toThrow(/does not exist in the registry/);
    registry.createRepository('team/new');
    await copy('team/new:v1');
    const inspected = await json<{ Digest: string }>(['inspect', TLS, CREDS, `docker://${host}/team/new:v1`]);
    const head = await registry.fetch('/v2/team/new/manifests/v1', {
      method: 'HEAD',
      headers: { Authorization: 'Basic Y2k6c2VjcmV0', Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(inspected.Digest).toBe(head.headers.get('docker-content-digest'));
    // skopeo computed the digest itself: the GET by tag it made carried none.
    const byTag = registry.requests.filter(
      (r) => r.method === 'GET' && r.path === '/v2/team/new/manifests/v1' && r.status === 200,
    );
    expect(byTag.length).toBeGreaterThan(0);
    for (const request of byTag) expect(request.responseHeaders['docker-content-digest']).toBeUndefined();
  });

  it('Quay: lists every tag by following the opaque next_page cursor', async () => {
    const names = tagNames(120);
    registry = await createTestRegistry({
      quirks: 'quay',
      images: { [`org/app:${names[0]}`]: { tags: names.slice(1) } },
    });
    const tags = await json<{ Tags: string[] }>([
      'list-tags',
      TLS,
      `docker://${await registry.host()}/org/app`,
    ]);
    expect(tags.Tags).toEqual(names);
    expect(registry.requests.filter((r) => r.route === 'tags' && r.status === 200).length).toBe(3);
  });

  it('ACR: lists tags with credentials through orderby= links', async () => {
    registry = await createTestRegistry({ quirks: 'acr', images: { 'app:a': { tags: ['b', 'c'] } } });
    const repo = `docker://${await registry.host()}/app`;
    await expect(skopeo(['list-tags', TLS, repo])).rejects.toThrow(
      /401|unauthorized|authentication required/i,
    );
    expect((await json<{ Tags: string[] }>(['list-tags', TLS, CREDS, repo])).Tags).toEqual(['a', 'b', 'c']);
  });

  it('GAR: lists tags despite the extra fields, with tokens from /v2/token', async () => {
    registry = await createTestRegistry({ quirks: 'gar', images: { 'p/r/app:v1': { tags: ['v2'] } } });
    const tags = await json<{ Tags: string[] }>([
      'list-tags',
      TLS,
      `docker://${await registry.host()}/p/r/app`,
    ]);
    expect(tags.Tags).toEqual(['v1', 'v2']);
    expect(registry.requests.some((r) => r.target === 'token' && r.path === '/v2/token')).toBe(true);
  });

  it('distribution 2.8: copies with OCI Accept headers; tags come unsorted', async () => {
    const names = tagNames(12);
    registry = await createTestRegistry({
      quirks: 'distribution',
      images: { [`app:${names[0]}`]: { tags: names.slice(1) } },
    });
    const repo = `docker://${await registry.host()}/app`;
    const listed = await json<{ Tags: string[] }>(['list-tags', TLS, repo]);
    expect([...listed.Tags].sort()).toEqual(names);
    expect(listed.Tags).not.toEqual(names);
    const layout = join(work.dir, 'distribution');
    await skopeo(['copy', '--src-tls-verify=false', `${repo}:${names[3]}`, `oci:${layout}:x`]);
    expect(await layoutDigest(layout, 'x')).toMatch(/^sha256:/);
  });

  it('Harbor: pushes land only in projects', async () => {
    registry = await createTestRegistry({ quirks: 'harbor', images: { 'library/src:v1': {} } });
    const copy = (to: string) => copyWithin('library/src:v1', to, ['--dest-creds=ci:secret']);
    await expect(copy('app:v1')).rejects.toThrow(/project name required/);
    await copy('library/app:v1');
    registry.createRepository('team');
    await copy('team/app:v1');
  });

  it('zot: refuses the Docker-format manifest; skopeo converts the image to OCI and retries', async () => {
    registry = await createTestRegistry({ quirks: 'zot', images: { 'src:v1': { format: 'docker' } } });
    await copyWithin('src:v1', 'dest:v1');
    const puts = registry.requests.filter(
      (r) => r.route === 'manifest' && r.method === 'PUT' && r.repository === 'dest',
    );
    // Docker schema 2 first (and schema 1, refused alike), then the OCI conversion.
    expect([puts[0]!.headers['content-type'], puts[0]!.status]).toEqual([
      'application/vnd.docker.distribution.manifest.v2+json',
      400,
    ]);
    expect([puts.at(-1)!.headers['content-type'], puts.at(-1)!.status]).toEqual([
      'application/vnd.oci.image.manifest.v1+json',
      201,
    ]);
    expect(puts.slice(0, -1).every((r) => r.status === 400)).toBe(true);
  });
});
