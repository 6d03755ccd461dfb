import { createHash } from 'node:crypto';
import * as snyk from '@snyk/docker-registry-v2-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestRegistry, type TestRegistry } from '../../src/index.js';
import { tagNames } from '../helpers.js';

/**
 * `@snyk/docker-registry-v2-client` (the registry client of Snyk's container scanning) against the
 * test registry over its loopback socket: what an npm registry client sees of each quirk.
 */
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const HTTP = { protocol: 'http:' };
const OCI_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

let registry: TestRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  vi.restoreAllMocks();
});

/** The client logs each retry with console.warn; keep the test output clean. */
function quietRetries(): void {
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
}

describe('@snyk/docker-registry-v2-client sees the quirks and faults', () => {
  it('retries a 429 and then lists the tags', async () => {
    quietRetries();
    registry = await createTestRegistry({
      images: { 'acme/app:v1': { tags: ['v2'] } },
      faults: [{ route: 'tags', times: 1, effect: { type: 'status', status: 429, retryAfter: 1 } }],
    });
    expect(
      await snyk.getTags(await registry.host(), 'acme/app', undefined, undefined, 1000, undefined, HTTP),
    ).toEqual(['v1', 'v2']);
    expect(registry.requests.filter((r) => r.route === 'tags').map((r) => r.status)).toEqual([429, 200]);
  });

  it('Docker Hub: gets an anonymous token, resolves the platform, follows the CDN redirect without credentials', async () => {
    registry = await createTestRegistry({ quirks: 'dockerhub' });
    const [image] = await registry.seed({
      'library/alpine:3': { format: 'docker', platforms: ['linux/arm64', 'linux/amd64'] },
    });
    const host = await registry.host();
    const manifest = await snyk.getManifest(host, 'library/alpine', '3', undefined, undefined, HTTP);
    const amd64 = image!.manifests.find((m) => m.platform === 'linux/amd64')!;
    expect(manifest.indexDigest).toBe(image!.digest);
    expect(manifest.manifestDigest).toBe(amd64.digest);
    expect(registry.requests.some((r) => r.target === 'token')).toBe(true);
    expect(
      registry.requests.find((r) => r.route === 'manifest' && r.status === 200)!.responseHeaders,
    ).toMatchObject({
      'ratelimit-limit': '100;w=21600',
    });

    const layer = await snyk.getLayer(
      host,
      'library/alpine',
      amd64.layers[0]!.digest,
      undefined,
      undefined,
      HTTP,
    );
    expect(sha256(layer)).toBe(amd64.layers[0]!.digest);
    const cdn = registry.requests.filter((r) => r.target === 'blobs');
    expect(cdn).toHaveLength(1);
    expect(cdn[0]!.headers.authorization).toBeUndefined();
  });

  it('ECR: refuses page sizes over 1000, pages smaller ones, and the client computes the digest the headers lack', async () => {
    const names = tagNames(105);
    registry = await createTestRegistry({
      quirks: 'ecr',
      images: { [`team/app:${names[0]}`]: { tags: names.slice(1) } },
    });
    const host = await registry.host();
    await expect(snyk.getTags(host, 'team/app', 'AWS', 'token', 2000, undefined, HTTP)).rejects.toMatchObject(
      {
        statusCode: 400,
        message: expect.stringContaining("Invalid parameter at 'maxResults'"),
      },
    );
    expect(await snyk.getTags(host, 'team/app', 'AWS', 'token', 40, undefined, HTTP)).toEqual(names);
    expect(registry.requests.filter((r) => r.route === 'tags' && r.status === 200)).toHaveLength(3);

    const manifest = await snyk.getManifest(host, 'team/app', names[0]!, 'AWS', 'token', HTTP);
    const byTag = registry.requests.filter((r) => r.route === 'manifest' && r.status === 200).at(-1)!;
    expect(byTag.responseHeaders['docker-content-digest']).toBeUndefined();
    const head = await registry.fetch(`/v2/team/app/manifests/${names[0]}`, {
      method: 'HEAD',
      headers: { Authorization: 'Basic QVdTOnRva2Vu', Accept: OCI_ACCEPT },
    });
    expect(manifest.manifestDigest).toBe(head.headers.get('docker-content-digest'));
  });

  it('Quay: Link pagination works; paging by last never gets past the first page', async () => {
    const names = tagNames(60);
    registry = await createTestRegistry({
      quirks: ['quay', { auth: null }],
      images: { [`org/app:${names[0]}`]: { tags: names.slice(1) } },
      faults: [{ route: 'tags', after: 4, effect: { type: 'status', status: 500 } }],
    });
    const host = await registry.host();
    expect(await snyk.getTags(host, 'org/app', undefined, undefined, 25, undefined, HTTP)).toEqual(names);

    await registry.reset();
    quietRetries();
    await expect(
      snyk.getTagsPaginated(host, 'org/app', undefined, undefined, 25, HTTP),
    ).rejects.toMatchObject({
      statusCode: 500,
    });
    const pages = registry.requests.filter((r) => r.route === 'tags' && r.status === 200);
    expect(pages.length).toBe(4);
    // Each request asked for the page after the last tag it had seen, and got the first page again.
    expect(pages.map((r) => new URLSearchParams(r.url.split('?')[1]).get('last'))).toEqual([
      null,
      names[24],
      names[24],
      names[24],
    ]);
  });

  it('GAR: _catalog redirects to documentation, which the client reports as such', async () => {
    registry = await createTestRegistry({ quirks: ['gar', { auth: null }], images: { 'p/r/app:v1': {} } });
    await expect(snyk.getRepos(await registry.host(), undefined, undefined, 100, 1, HTTP)).rejects.toThrow(
      /redirected to documentation/,
    );
    expect(
      await snyk.getTags(await registry.host(), 'p/r/app', undefined, undefined, 100, undefined, HTTP),
    ).toEqual(['v1']);
  });

  it('GHCR: the fallback referrers tag is listed with the tags', async () => {
    registry = await createTestRegistry({ quirks: 'ghcr' });
    const [image] = await registry.seed({ 'owner/tool:v1': { referrers: ['attestation'] } });
    const tags = await snyk.getTags(
      await registry.host(),
      'owner/tool',
      undefined,
      undefined,
      100,
      undefined,
      HTTP,
    );
    expect(tags).toEqual([`sha256-${image!.digest.slice(7)}`, 'v1'].sort());
  });

  it('distribution 2.8: an OCI manifest is not found under Docker-only Accept headers', async () => {
    registry = await createTestRegistry({ quirks: 'distribution', images: { 'app:v1': {} } });
    const host = await registry.host();
    await expect(snyk.getManifest(host, 'app', 'v1', undefined, undefined, HTTP)).rejects.toMatchObject({
      statusCode: 404,
      message: 'OCI manifest found, but accept header does not support OCI manifests',
    });
    const manifest = await snyk.getManifest(host, 'app', 'v1', undefined, undefined, {
      ...HTTP,
      acceptManifest: OCI_ACCEPT,
    });
    expect(manifest.schemaVersion).toBe(2);
  });

  it('ACR: follows links that carry orderby=, with credentials', async () => {
    registry = await createTestRegistry({ quirks: 'acr', images: { 'app:a': { tags: ['b', 'c', 'd'] } } });
    expect(await snyk.getTags(await registry.host(), 'app', 'user', 'pass', 2, undefined, HTTP)).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    const links = registry.requests.filter((r) => r.route === 'tags' && r.status === 200).map((r) => r.url);
    expect(links.slice(1)).toEqual(['/v2/app/tags/list?n=2&last=b&orderby=']);
  });

  it('Harbor: takes an anonymous token from /service/token', async () => {
    registry = await createTestRegistry({ quirks: 'harbor', images: { 'library/app:v1': {} } });
    const manifest = await snyk.getManifest(
      await registry.host(),
      'library/app',
      'v1',
      undefined,
      undefined,
      {
        ...HTTP,
        acceptManifest: OCI_ACCEPT,
      },
    );
    expect(manifest.layers).toHaveLength(1);
    expect(registry.requests.find((r) => r.target === 'token')!.path).toBe('/service/token');
  });
});
