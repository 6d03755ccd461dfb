import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestRegistry, mergeQuirks, profiles, type TestRegistry } from '../src/index.js';
import { challenge, signedInFetch, tagNames } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].join(', ');
const sha256 = (bytes: Uint8Array | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const CREDENTIALS = { user: 'ci', password: 'secret' };

let registry: TestRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

/** An artifact manifest (with `artifactType`) whose subject is `subject`, and its layer. */
function artifact(artifactType: string, subject?: { digest: string; size: number }) {
  const layer = Buffer.from(`{"artifact":"${artifactType}"}`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: artifactType, digest: sha256(layer), size: layer.byteLength }],
      ...(subject ? { subject: { mediaType: OCI_MANIFEST, ...subject } } : {}),
    }),
  );
  return { layer, manifest };
}

/** Pushes an artifact through `send`; resolves the manifest PUT's response. */
async function pushArtifact(
  send: (path: string, init?: RequestInit) => Promise<Response>,
  repository: string,
  tag: string,
  artifactType: string,
  subject?: { digest: string; size: number },
): Promise<Response> {
  const { layer, manifest } = artifact(artifactType, subject);
  for (const blob of [Buffer.from('{}'), layer]) {
    const res = await send(`/v2/${repository}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
    });
    expect(res.status).toBe(201);
  }
  return send(`/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_MANIFEST },
    body: manifest,
  });
}

describe('every profile names its sources', () => {
  it.each(Object.values(profiles))('$title', (profile) => {
    expect(profile.sources.length).toBeGreaterThan(0);
    for (const source of profile.sources) expect(source).toMatch(/^https:\/\//);
    expect(profile.description.length).toBeGreaterThan(40);
  });
});

describe('Docker Hub', () => {
  it('wants a token even for anonymous pulls, counts pulls, redirects blobs, has no referrers API', async () => {
    registry = await createTestRegistry({
      quirks: 'dockerhub',
      images: { 'library/alpine:3': { referrers: ['sbom'] } },
    });
    const anonymous = await registry.fetch('/v2/library/alpine/manifests/3');
    expect(anonymous.status).toBe(401);
    const { scheme, params } = challenge(anonymous.headers.get('www-authenticate'));
    expect(scheme).toBe('bearer');
    expect(params).toEqual({
      realm: 'http://registry.local/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });

    const pull = signedInFetch(registry);
    const manifest = await pull('/v2/library/alpine/manifests/3', { headers: { Accept: ACCEPT } });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('ratelimit-limit')).toBe('100;w=21600');
    expect(manifest.headers.get('ratelimit-remaining')).toBe('99;w=21600');
    const layer = (JSON.parse(await manifest.text()) as { layers: Array<{ digest: string }> }).layers[0]!;

    const redirect = await pull(`/v2/library/alpine/blobs/${layer.digest}`, { redirect: 'manual' });
    expect(redirect.status).toBe(307);
    const location = new URL(redirect.headers.get('location')!);
    expect(location.origin).toBe('http://blobs.registry.local');
    const followed = await pull(`/v2/library/alpine/blobs/${layer.digest}`);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(layer.digest);
    const cdn = registry.requests.filter((r) => r.target === 'blobs');
    expect(cdn.map((r) => [r.status, r.headers.authorization])).toEqual([[200, undefined]]);

    const referrers = await pull(`/v2/library/alpine/referrers/${sha256('x')}`);
    expect(referrers.status).toBe(404);
    expect(referrers.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const tags = (await (await pull('/v2/library/alpine/tags/list')).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['3', `sha256-${manifest.headers.get('docker-content-digest')!.slice(7)}`]);
  });

  it('answers 429 beyond the pull limit until the window passes on the clock', async () => {
    registry = await createTestRegistry({
      quirks: ['dockerhub', { pullRateLimit: { limit: 2, windowSeconds: 60 } }],
      images: { 'library/alpine:3': {} },
    });
    const pull = signedInFetch(registry);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await pull('/v2/library/alpine/manifests/3')).status);
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await pull('/v2/library/alpine/manifests/3');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0;w=60');
    expect(((await limited.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'TOOMANYREQUESTS',
    );
    // HEAD does not count, and the window ends on the registry's clock.
    expect((await pull('/v2/library/alpine/manifests/3', { method: 'HEAD' })).status).toBe(200);
    registry.clock.advance(60_000);
    expect((await pull('/v2/library/alpine/manifests/3')).status).toBe(200);
  });

  it('lets tokens expire on the clock', async () => {
    registry = await createTestRegistry({ quirks: 'dockerhub', images: { 'library/alpine:3': {} } });
    const token = await registry.fetch(
      '/token?service=registry.docker.io&scope=repository:library/alpine:pull',
    );
    const { token: value, expires_in } = (await token.json()) as { token: string; expires_in: number };
    expect(expires_in).toBe(300);
    const get = () =>
      registry!.fetch('/v2/library/alpine/tags/list', { headers: { Authorization: `Bearer ${value}` } });
    expect((await get()).status).toBe(200);
    registry.clock.advance(300_000);
    const expired = await get();
    expect(expired.status).toBe(401);
    expect(challenge(expired.headers.get('www-authenticate')).params.error).toBe('invalid_token');
  });
});

describe('Amazon ECR', () => {
  it('pages tags by 100, refuses n > 1000, omits the digest on GETs by tag', async () => {
    const names = tagNames(105);
    registry = await createTestRegistry({
      quirks: 'ecr',
      images: { [`team/app:${names[0]}`]: { tags: names.slice(1) } },
    });
    const unauthenticated = await registry.fetch('/v2/team/app/tags/list');
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toBe(
      'Basic realm="http://registry.local/",service="ecr.amazonaws.com"',
    );
    const send = signedInFetch(registry, CREDENTIALS);
    const first = await send('/v2/team/app/tags/list');
    expect(((await first.json()) as { tags: string[] }).tags).toEqual(names.slice(0, 100));
    expect(first.headers.get('link')).toBe(`</v2/team/app/tags/list?n=100&last=${names[99]}>; rel="next"`);

    const tooMany = await send('/v2/team/app/tags/list?n=1001');
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toEqual({
      errors: [
        {
          code: 'UNSUPPORTED',
          message:
            "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'",
        },
      ],
    });

    const byTag = await send(`/v2/team/app/manifests/${names[0]}`, { headers: { Accept: ACCEPT } });
    const bytes = Buffer.from(await byTag.arrayBuffer());
    expect(byTag.headers.get('docker-content-digest')).toBeNull();
    const byDigest = await send(`/v2/team/app/manifests/${sha256(bytes)}`, { headers: { Accept: ACCEPT } });
    expect(byDigest.headers.get('docker-content-digest')).toBe(sha256(bytes));
    const head = await send(`/v2/team/app/manifests/${names[0]}`, {
      method: 'HEAD',
      headers: { Accept: ACCEPT },
    });
    expect(head.headers.get('docker-content-digest')).toBe(sha256(bytes));
  });

  it('refuses pushes to repositories nobody created, and sends OCI-Subject without a referrers API', async () => {
    registry = await createTestRegistry({ quirks: 'ecr', images: { 'team/app:v1': {} } });
    const send = signedInFetch(registry, CREDENTIALS);
    const refused = await send('/v2/team/new/blobs/uploads/', { method: 'POST' });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({
      errors: [
        {
          code: 'NAME_UNKNOWN',
          message:
            "The repository with name 'team/new' does not exist in the registry with id '000000000000'",
        },
      ],
    });
    registry.createRepository('team/new');
    expect((await send('/v2/team/new/blobs/uploads/', { method: 'POST' })).status).toBe(202);

    const subject = await send('/v2/team/app/manifests/v1', { method: 'HEAD', headers: { Accept: ACCEPT } });
    const digest = subject.headers.get('docker-content-digest')!;
    const size = Number(subject.headers.get('content-length'));
    const pushed = await pushArtifact(
      send,
      'team/app',
      'sig',
      'application/vnd.dev.cosign.artifact.sig.v1+json',
      {
        digest,
        size,
      },
    );
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('oci-subject')).toBe(digest);
    expect((await send(`/v2/team/app/referrers/${digest}`)).status).toBe(404);
  });
});

describe('Google Artifact Registry', () => {
  it('adds GCR fields to tag lists and redirects _catalog to documentation', async () => {
    registry = await createTestRegistry({
      quirks: 'gar',
      images: { 'proj/repo/app:v1': { tags: ['latest'] } },
    });
    const anonymous = await registry.fetch('/v2/proj/repo/app/tags/list');
    expect(challenge(anonymous.headers.get('www-authenticate')).params.realm).toBe(
      'http://registry.local/v2/token',
    );
    const send = signedInFetch(registry);
    const list = (await (await send('/v2/proj/repo/app/tags/list')).json()) as {
      tags: string[];
      child: string[];
      manifest: Record<string, { tag: string[]; mediaType: string }>;
    };
    expect(list.tags).toEqual(['latest', 'v1']);
    expect(list.child).toEqual([]);
    const [digest, entry] = Object.entries(list.manifest)[0]!;
    expect(digest).toMatch(/^sha256:/);
    expect(entry).toMatchObject({ tag: ['latest', 'v1'], mediaType: OCI_MANIFEST });

    const catalog = await signedInFetch(registry, CREDENTIALS)('/v2/_catalog', { redirect: 'manual' });
    expect(catalog.status).toBe(302);
    expect(catalog.headers.get('location')).toMatch(/^https:\/\/cloud\.google\.com\/artifact-registry\/docs/);
  });
});

describe('GitHub Container Registry', () => {
  it('hands out anonymous tokens, has no referrers API, serves blobs from another origin', async () => {
    registry = await createTestRegistry({
      quirks: 'ghcr',
      images: { 'owner/tool:v1': { referrers: ['sbom'] } },
    });
    const send = signedInFetch(registry);
    const index = await send('/v2/owner/tool/manifests/v1', { method: 'HEAD', headers: { Accept: ACCEPT } });
    const digest = index.headers.get('docker-content-digest')!;
    expect((await send(`/v2/owner/tool/referrers/${digest}`)).status).toBe(404);
    const fallback = await send(`/v2/owner/tool/manifests/sha256-${digest.slice(7)}`, {
      headers: { Accept: ACCEPT },
    });
    const listed = (await fallback.json()) as { manifests: Array<{ artifactType: string }> };
    expect(listed.manifests.map((m) => m.artifactType)).toEqual(['application/spdx+json']);
    expect(registry.requests.filter((r) => r.target === 'token').length).toBeGreaterThan(0);
    // A push of an artifact with a subject gets no OCI-Subject: the client must update the tag itself.
    const pushed = await pushArtifact(
      signedInFetch(registry, CREDENTIALS),
      'owner/tool',
      'att',
      'application/vnd.in-toto+json',
      {
        digest,
        size: Number(index.headers.get('content-length')),
      },
    );
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('oci-subject')).toBeNull();
  });
});

describe('Azure Container Registry', () => {
  it('wants credentials for tokens and adds orderby= to Link', async () => {
    registry = await createTestRegistry({ quirks: 'acr', images: { 'app:a': { tags: ['b', 'c'] } } });
    const anonymous = await signedInFetch(registry)('/v2/app/tags/list?n=2');
    expect(anonymous.status).toBe(401);
    const send = signedInFetch(registry, CREDENTIALS);
    const page = await send('/v2/app/tags/list?n=2');
    expect(page.headers.get('link')).toBe('</v2/app/tags/list?n=2&last=b&orderby=>; rel="next"');
    const next = await send('/v2/app/tags/list?last=b&n=2&orderby=');
    expect(((await next.json()) as { tags: string[] }).tags).toEqual(['c']);
  });
});

describe('Quay', () => {
  it('pages by 50 behind an opaque cursor and ignores last', async () => {
    const names = tagNames(60);
    registry = await createTestRegistry({
      quirks: 'quay',
      images: { [`org/app:${names[0]}`]: { tags: names.slice(1) } },
    });
    const send = signedInFetch(registry);
    const first = await send('/v2/org/app/tags/list');
    expect(((await first.json()) as { tags: string[] }).tags).toEqual(names.slice(0, 50));
    const link = /^<([^>]+)>; rel="next"$/.exec(first.headers.get('link')!)![1]!;
    expect(link).toMatch(/^\/v2\/org\/app\/tags\/list\?n=50&next_page=[\w-]+$/);
    const second = await send(link);
    expect(((await second.json()) as { tags: string[] }).tags).toEqual(names.slice(50));
    // A client that pages with `last` gets the first page again.
    const withLast = await send(`/v2/org/app/tags/list?n=50&last=${names[49]}`);
    expect(((await withLast.json()) as { tags: string[] }).tags).toEqual(names.slice(0, 50));
  });

  it('accepts only the artifact types Quay allows, and redirects blobs with 302', async () => {
    registry = await createTestRegistry({ quirks: 'quay', images: { 'org/app:v1': {} } });
    const send = signedInFetch(registry, CREDENTIALS);
    const refused = await pushArtifact(send, 'org/app', 'sbom', 'application/x-unknown+json');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'MANIFEST_INVALID',
    );
    expect((await pushArtifact(send, 'org/app', 'spdx', 'text/spdx+json')).status).toBe(201);
    const config = (await (
      await send('/v2/org/app/manifests/v1', { headers: { Accept: ACCEPT } })
    ).json()) as {
      config: { digest: string };
    };
    expect((await send(`/v2/org/app/blobs/${config.config.digest}`, { redirect: 'manual' })).status).toBe(
      302,
    );
  });
});

describe('CNCF distribution 2.8', () => {
  it('has deletes off, no referrers API, no ?tag=, strict Accept, unsorted and unpaged tags', async () => {
    registry = await createTestRegistry({
      quirks: 'distribution',
      images: { 'app:b': { tags: ['a', 'd', 'c'] } },
    });
    const del = await registry.fetch('/v2/app/manifests/a', { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(((await del.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNSUPPORTED');
    const referrers = await registry.fetch(`/v2/app/referrers/${sha256('x')}`);
    expect([referrers.status, await referrers.text()]).toEqual([404, '404 page not found\n']);

    const noAccept = await registry.fetch('/v2/app/manifests/a');
    expect(noAccept.status).toBe(404);
    expect(((await noAccept.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(
      'OCI manifest found, but accept header does not support OCI manifests',
    );
    expect((await registry.fetch('/v2/app/manifests/a', { headers: { Accept: OCI_MANIFEST } })).status).toBe(
      200,
    );

    const tags = (await (await registry.fetch('/v2/app/tags/list?n=1')).json()) as { tags: string[] };
    expect([...tags.tags].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(tags.tags).not.toEqual(['a', 'b', 'c', 'd']);

    const single = await registry.fetch(`/v2/app/blobs/uploads/?digest=${sha256('x')}`, {
      method: 'POST',
      body: 'x',
    });
    expect(single.status).toBe(202);
    const catalog = await registry.fetch('/v2/_catalog?n=1001');
    expect(await catalog.json()).toEqual({
      errors: [
        {
          code: 'PAGINATION_NUMBER_INVALID',
          message: 'invalid number of results requested',
          detail: { n: 1001 },
        },
      ],
    });
  });
});

describe('Harbor', () => {
  it('takes pushes only into existing projects', async () => {
    registry = await createTestRegistry({ quirks: 'harbor' });
    const send = signedInFetch(registry, CREDENTIALS);
    const post = (repository: string) => send(`/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    const noProject = await post('app');
    expect(noProject.status).toBe(404);
    expect(((await noProject.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe(
      'project name required',
    );
    expect((await post('team/app')).status).toBe(404);
    expect((await post('library/app')).status).toBe(202);
    registry.createRepository('team');
    expect((await post('team/app')).status).toBe(202);
    expect(challenge((await registry.fetch('/v2/')).headers.get('www-authenticate')).params.realm).toBe(
      'http://registry.local/service/token',
    );
  });
});

describe('zot', () => {
  it('refuses Docker manifests and takes OCI ones', async () => {
    registry = await createTestRegistry({ quirks: 'zot' });
    // Seeding bypasses the quirks, so the blobs are there; the client's push of the manifest is not.
    const [image] = await registry.seed({ 'other:v1': { format: 'docker' } });
    const source = await registry.fetch(`/v2/other/manifests/${image!.digest}`, {
      headers: { Accept: DOCKER_MANIFEST },
    });
    const bytes = Buffer.from(await source.arrayBuffer());
    for (const blob of [image!.manifests[0]!.config, ...image!.manifests[0]!.layers]) {
      await registry.fetch(`/v2/app/blobs/uploads/?mount=${blob.digest}&from=other`, { method: 'POST' });
    }
    const refused = await registry.fetch('/v2/app/manifests/v1', {
      method: 'PUT',
      headers: { 'Content-Type': DOCKER_MANIFEST },
      body: bytes,
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      errors: [
        { code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { mediaType: DOCKER_MANIFEST } },
      ],
    });
    await registry.seed({ 'app:oci': {} });
    expect((await registry.fetch('/v2/app/manifests/oci', { headers: { Accept: ACCEPT } })).status).toBe(200);
  });
});

describe('combining profiles', () => {
  it('merges quirks, later ones overriding earlier ones', () => {
    const merged = mergeQuirks(profiles.distribution, {
      features: { deleteTags: true },
      referrers: 'supported',
    });
    expect(merged.features).toMatchObject({ deleteTags: true, deleteManifests: false });
    expect(merged.referrers).toBe('supported');
    expect(mergeQuirks(profiles.ghcr, { auth: null }).auth).toBeNull();
  });

  it('applies a profile with overrides: GHCR without its token dance', async () => {
    registry = await createTestRegistry({ quirks: ['ghcr', { auth: null }], images: { 'o/t:v1': {} } });
    expect((await registry.fetch('/v2/o/t/tags/list')).status).toBe(200);
  });

  it('names the known profiles when given an unknown one', async () => {
    await expect(createTestRegistry({ quirks: 'nexus' as never })).rejects.toThrow(/known: dockerhub, ecr/);
  });
});
