import { createMemoryStorage, type MetadataStore } from '@wharf/core';
import { jsonContent, makeImage, makeIndex, randomContent, sha256, sha512 } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { all, errorCode, rawRequest, responseErrorCode, setup, storageSnapshot } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Pushes an image's blobs (not its manifest). */
async function pushBlobs(
  client: ReturnType<typeof setup>['client'],
  repo: string,
  image: ReturnType<typeof makeImage>,
) {
  for (const blob of [image.config, ...image.layers]) await client.pushBlob(repo, blob.bytes);
}

describe('manifests', () => {
  it('stores the exact bytes and serves them by tag and digest with the pushed media type', async () => {
    const { client } = setup();
    for (const docker of [false, true]) {
      const image = makeImage({ layers: [100, 200], docker });
      await pushBlobs(client, 'lib/app', image);
      // Unusual but valid formatting must survive byte for byte.
      const bytes = Buffer.from(
        `  ${JSON.stringify(JSON.parse(image.manifest.bytes.toString()), null, '\t')}\n`,
      );
      const digest = sha256(bytes);
      const put = await client.putManifest('lib/app', docker ? 'docker' : 'oci', bytes, image.mediaType);
      expect(put.status).toBe(201);
      expect(put.headers.get('location')).toBe(`/v2/lib/app/manifests/${digest}`);
      expect(put.headers.get('docker-content-digest')).toBe(digest);
      for (const reference of [docker ? 'docker' : 'oci', digest]) {
        const get = await client.request('GET', `/v2/lib/app/manifests/${reference}`);
        expect(get.status).toBe(200);
        expect(get.headers.get('content-type')).toBe(image.mediaType);
        expect(get.headers.get('docker-content-digest')).toBe(digest);
        expect(get.headers.get('content-length')).toBe(String(bytes.byteLength));
        expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
        const head = await client.request('HEAD', `/v2/lib/app/manifests/${reference}`);
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
        expect(head.headers.get('docker-content-digest')).toBe(digest);
        expect((await head.arrayBuffer()).byteLength).toBe(0);
      }
    }
  });

  it('accepts OCI indexes and Docker manifest lists whose children exist', async () => {
    const { client } = setup();
    const images = [makeImage(), makeImage()];
    for (const image of images) await client.pushImage('multi', image.manifest.digest, image);
    const children = images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.manifest.digest,
      size: image.manifest.bytes.byteLength,
      platform: { architecture: 'amd64', os: 'linux' },
    }));
    const index = makeIndex(children);
    const put = await client.putManifest('multi', 'index', index, OCI_INDEX);
    expect(put.status).toBe(201);
    const list = jsonContent({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: children });
    expect((await client.putManifest('multi', 'list', list, DOCKER_LIST)).status).toBe(201);
    expect((await client.getManifest('multi', 'list')).mediaType).toBe(DOCKER_LIST);
    expect((await client.getManifest('multi', 'index')).bytes.equals(index.bytes)).toBe(true);
  });

  it('answers MANIFEST_BLOB_UNKNOWN for missing blobs or child manifests, storing nothing', async () => {
    const { client, registry } = setup();
    const image = makeImage({ layers: [10, 20] });
    await client.pushBlob('repo', image.config.bytes);
    await client.pushBlob('repo', image.layers[0]!.bytes);
    const put = await client.putManifest('repo', 'latest', image.manifest, image.mediaType);
    expect(put.status).toBe(400);
    const body = (await put.json()) as { errors: Array<{ code: string; detail: { digests: string[] } }> };
    expect(body.errors[0]!.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(body.errors[0]!.detail.digests).toEqual([image.layers[1]!.digest]);
    // A blob that exists only in another repository does not count.
    await client.pushBlob('other', image.layers[1]!.bytes);
    expect((await client.putManifest('repo', 'latest', image.manifest, image.mediaType)).status).toBe(400);

    const index = makeIndex([{ mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: 1 }]);
    const putIndex = await client.putManifest('repo', 'index', index, OCI_INDEX);
    expect(putIndex.status).toBe(400);
    expect(await errorCode(putIndex)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(await registry.storage.metadata.listTags('repo')).toEqual([]);
    expect(await all(registry.storage.metadata.listManifests('repo'))).toEqual([]);
  });

  it('accepts missing references when sparse manifests are enabled', async () => {
    const { client } = setup({ features: { sparseManifests: true } });
    const image = makeImage();
    expect((await client.putManifest('repo', 'sparse', image.manifest, image.mediaType)).status).toBe(201);
    expect((await client.getManifest('repo', 'sparse')).digest).toBe(image.manifest.digest);
  });

  it('accepts a subject that does not exist and answers OCI-Subject', async () => {
    const { client } = setup();
    const subject = { mediaType: OCI_MANIFEST, digest: randomContent(10).digest, size: 10 };
    const artifact = makeImage({ subject, artifactType: 'application/vnd.example.sbom' });
    await pushBlobs(client, 'repo', artifact);
    const put = await client.putManifest(
      'repo',
      artifact.manifest.digest,
      artifact.manifest,
      artifact.mediaType,
    );
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(subject.digest);
  });

  it('creates every ?tag= when pushing by digest and lists them in OCI-Tag', async () => {
    const { client } = setup();
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const put = await client.request(
      'PUT',
      `/v2/repo/manifests/${image.manifest.digest}?tag=1.2.3&tag=1.2&tag=latest`,
      {
        body: image.manifest.bytes,
        headers: { 'Content-Type': image.mediaType },
      },
    );
    expect(put.status).toBe(201);
    const tags = put.headers
      .get('oci-tag')!
      .split(',')
      .map((t) => t.trim());
    expect(tags).toEqual(['1.2.3', '1.2', 'latest']);
    expect(await client.tags('repo')).toEqual(['1.2', '1.2.3', 'latest']);
    for (const tag of tags)
      expect((await client.getManifest('repo', tag)).digest).toBe(image.manifest.digest);
  });

  it('answers 414 for too many ?tag= values and 400 for an invalid one, storing nothing', async () => {
    const { client, registry } = setup({ limits: { tagsPerPush: 3 } });
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const many = await client.request(
      'PUT',
      `/v2/repo/manifests/${image.manifest.digest}?tag=a&tag=b&tag=c&tag=d`,
      {
        body: image.manifest.bytes,
        headers: { 'Content-Type': image.mediaType },
      },
    );
    expect(many.status).toBe(414);
    const invalid = await client.request(
      'PUT',
      `/v2/repo/manifests/${image.manifest.digest}?tag=ok&tag=-bad`,
      {
        body: image.manifest.bytes,
        headers: { 'Content-Type': image.mediaType },
      },
    );
    expect(invalid.status).toBe(400);
    expect(await registry.storage.metadata.getManifest('repo', image.manifest.digest)).toBeNull();
    expect(await registry.storage.metadata.listTags('repo')).toEqual([]);
  });

  it('ignores ?tag= when the feature is off', async () => {
    const { client } = setup({ features: { tagsOnPush: false } });
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const put = await client.request('PUT', `/v2/repo/manifests/${image.manifest.digest}?tag=x`, {
      body: image.manifest.bytes,
      headers: { 'Content-Type': image.mediaType },
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-tag')).toBeNull();
    expect(await client.tags('repo')).toEqual([]);
  });

  it('answers 413 for a manifest above the limit, before reading it all', async () => {
    const { client, registry } = setup({ limits: { manifestMaxBytes: 1024 } });
    const big = jsonContent({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [],
      annotations: { x: 'y'.repeat(2000) },
    });
    const put = await client.putManifest('repo', 'big', big, OCI_INDEX);
    expect(put.status).toBe(413);
    expect(await registry.storage.metadata.listTags('repo')).toEqual([]);
    // The default accepts 4 MiB manifests.
    const def = setup();
    const large = jsonContent({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [],
      annotations: { x: 'y'.repeat(4 * 1024 * 1024 - 200) },
    });
    expect((await def.client.putManifest('repo', 'large', large, OCI_INDEX)).status).toBe(201);
    const tooLarge = jsonContent({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [],
      annotations: { x: 'y'.repeat(4 * 1024 * 1024) },
    });
    expect((await def.client.putManifest('repo', 'too-large', tooLarge, OCI_INDEX)).status).toBe(413);
  });

  it('rejects invalid manifests with MANIFEST_INVALID', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const valid = JSON.parse(image.manifest.bytes.toString()) as Record<string, unknown>;
    const cases: Array<[string, Uint8Array, string]> = [
      ['not JSON', Buffer.from('blablabla'), OCI_MANIFEST],
      ['JSON array', Buffer.from('[]'), OCI_MANIFEST],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), OCI_MANIFEST],
      ['schemaVersion 1', jsonContent({ ...valid, schemaVersion: 1 }).bytes, OCI_MANIFEST],
      ['no layers', jsonContent({ ...valid, layers: undefined }).bytes, OCI_MANIFEST],
      [
        'bad descriptor digest',
        jsonContent({ ...valid, config: { ...(valid.config as object), digest: 'sha256:zz!' } }).bytes,
        OCI_MANIFEST,
      ],
      [
        'negative size',
        jsonContent({ ...valid, config: { ...(valid.config as object), size: -1 } }).bytes,
        OCI_MANIFEST,
      ],
      ['mediaType differs from Content-Type', image.manifest.bytes, OCI_INDEX],
      [
        'schema 1',
        jsonContent({ schemaVersion: 1, name: 'repo', tag: 'x', fsLayers: [] }).bytes,
        'application/vnd.docker.distribution.manifest.v1+prettyjws',
      ],
      ['unknown type', jsonContent({ schemaVersion: 2 }).bytes, 'application/vnd.example+json'],
    ];
    for (const [what, bytes, contentType] of cases) {
      const put = await client.putManifest('repo', 'bad', bytes, contentType);
      expect(put.status, what).toBe(400);
      expect(await errorCode(put), what).toBe('MANIFEST_INVALID');
    }
    expect(await registry.storage.metadata.listTags('repo')).toEqual([]);
  });

  it('refuses a Content-Type that is not the manifest mediaType (CVE-2021-41190), storing nothing', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const before = await storageSnapshot(registry);
    const types = [
      'text/html',
      'application/octet-stream',
      ';;;',
      'application/json',
      OCI_INDEX,
      DOCKER_LIST,
      '',
    ];
    for (const contentType of types) {
      const headers: Record<string, string> = contentType ? { 'Content-Type': contentType } : {};
      for (const reference of ['v1', image.manifest.digest]) {
        const res = await registry.handle(
          rawRequest('PUT', `/v2/repo/manifests/${reference}`, headers, [image.manifest.bytes]),
        );
        expect(res.status, `${contentType} ${reference}`).toBe(400);
        expect(await responseErrorCode(res), contentType).toBe('MANIFEST_INVALID');
      }
    }
    expect(await storageSnapshot(registry)).toEqual(before);
    // Parameters are ignored, as the spec asks, and so is the case of the type.
    for (const contentType of [`${OCI_MANIFEST}; charset=utf-8`, OCI_MANIFEST.toUpperCase()]) {
      const put = await client.putManifest('repo', 'v1', image.manifest, contentType);
      expect(put.status, contentType).toBe(201);
    }
    expect((await client.getManifest('repo', 'v1')).mediaType).toBe(OCI_MANIFEST);
  });

  it('types a manifest without mediaType by a Content-Type its shape allows, and only such', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    const { mediaType: _, ...rest } = JSON.parse(image.manifest.bytes.toString()) as Record<string, unknown>;
    const bare = jsonContent({ ...rest, layers: [] });
    const bareIndex = jsonContent({
      schemaVersion: 2,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.bytes.byteLength },
      ],
    });
    const before = await storageSnapshot(registry);
    for (const [content, contentType] of [
      [bare, 'application/octet-stream'],
      [bare, OCI_INDEX],
      [bare, 'application/vnd.docker.distribution.manifest.v2+json'],
      [bareIndex, OCI_MANIFEST],
      [bareIndex, DOCKER_LIST],
    ] as const) {
      const put = await client.putManifest('repo', 'bare', content, contentType);
      expect(put.status, contentType).toBe(400);
      expect(await errorCode(put)).toBe('MANIFEST_INVALID');
    }
    expect(await storageSnapshot(registry)).toEqual(before);
    expect((await client.putManifest('repo', 'bare', bare, OCI_MANIFEST)).status).toBe(201);
    expect((await client.getManifest('repo', 'bare')).mediaType).toBe(OCI_MANIFEST);
    expect((await client.putManifest('repo', 'bare-index', bareIndex, OCI_INDEX)).status).toBe(201);
    expect((await client.getManifest('repo', 'bare-index')).mediaType).toBe(OCI_INDEX);
  });

  it('verifies the digest of a push by digest, in its algorithm', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const wrong = await client.putManifest('repo', randomContent(4).digest, image.manifest, image.mediaType);
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe('DIGEST_INVALID');
    const digest512 = sha512(image.manifest.bytes);
    const put = await client.putManifest('repo', digest512, image.manifest, image.mediaType);
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest512);
    expect((await client.getManifest('repo', digest512)).bytes.equals(image.manifest.bytes)).toBe(true);
    expect(await registry.storage.metadata.getManifest('repo', image.manifest.digest)).toBeNull();
  });

  it('answers 404 MANIFEST_UNKNOWN for unknown tags, digests and invalid references', async () => {
    const { client } = setup();
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    for (const reference of ['v2', randomContent(3).digest, '.INVALID_MANIFEST_NAME', '-x']) {
      const get = await client.request('GET', `/v2/repo/manifests/${reference}`);
      expect(get.status, reference).toBe(404);
      expect(await errorCode(get)).toBe('MANIFEST_UNKNOWN');
      expect((await client.request('HEAD', `/v2/repo/manifests/${reference}`)).status).toBe(404);
    }
    // A manifest of another repository is unknown here.
    expect((await client.request('GET', `/v2/other/manifests/${image.manifest.digest}`)).status).toBe(404);
    const invalid = await client.request('GET', '/v2/repo/manifests/sha256:totallywrong');
    expect(invalid.status).toBe(400);
    expect(await errorCode(invalid)).toBe('DIGEST_INVALID');
  });

  it('deletes a tag (202) without touching the manifest', async () => {
    const { client } = setup();
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    await client.putManifest('repo', 'v2', image.manifest, image.mediaType);
    const del = await client.request('DELETE', '/v2/repo/manifests/v1');
    expect(del.status).toBe(202);
    expect((await client.request('GET', '/v2/repo/manifests/v1')).status).toBe(404);
    expect((await client.request('GET', '/v2/repo/manifests/v2')).status).toBe(200);
    expect((await client.request('DELETE', '/v2/repo/manifests/v1')).status).toBe(404);
  });

  it('deletes a manifest by digest (202) with every tag pointing at it, keeping its blobs', async () => {
    const { client, registry } = setup();
    const image = makeImage();
    await client.pushImage('repo', 'a', image);
    await client.putManifest('repo', 'b', image.manifest, image.mediaType);
    const other = makeImage();
    await client.pushImage('repo', 'c', other);
    // Served once (and so cached in memory) before the delete: the delete must still win.
    expect((await client.getManifest('repo', 'a')).digest).toBe(image.manifest.digest);
    const del = await client.request('DELETE', `/v2/repo/manifests/${image.manifest.digest}`);
    expect(del.status).toBe(202);
    expect((await client.request('GET', `/v2/repo/manifests/${image.manifest.digest}`)).status).toBe(404);
    expect((await client.request('GET', '/v2/repo/manifests/a')).status).toBe(404);
    expect(await client.tags('repo')).toEqual(['c']);
    expect((await client.request('HEAD', `/v2/repo/blobs/${image.config.digest}`)).status).toBe(200);
    expect(await registry.storage.metadata.getManifest('repo', image.manifest.digest)).toBeNull();
    expect((await client.request('DELETE', `/v2/repo/manifests/${image.manifest.digest}`)).status).toBe(404);
  });

  it('answers 405 UNSUPPORTED when deletion is disabled', async () => {
    const { client } = setup({ features: { deleteManifests: false, deleteTags: false, deleteBlobs: false } });
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    for (const path of [
      '/v2/repo/manifests/v1',
      `/v2/repo/manifests/${image.manifest.digest}`,
      `/v2/repo/blobs/${image.config.digest}`,
    ]) {
      const res = await client.request('DELETE', path);
      expect(res.status).toBe(405);
      expect(await errorCode(res)).toBe('UNSUPPORTED');
    }
    expect((await client.getManifest('repo', 'v1')).digest).toBe(image.manifest.digest);
  });

  it('honours If-Match and If-None-Match on a push by tag (412), and ETag on GET', async () => {
    const { client } = setup();
    const first = makeImage();
    const second = makeImage();
    await client.pushImage('repo', 'v1', first);
    await pushBlobs(client, 'repo', second);
    const get = await client.request('GET', '/v2/repo/manifests/v1');
    const etag = get.headers.get('etag')!;
    expect(etag).toBe(`"${first.manifest.digest}"`);
    const notModified = await client.request('GET', '/v2/repo/manifests/v1', {
      headers: { 'If-None-Match': etag },
    });
    expect(notModified.status).toBe(304);
    const create = await client.request('PUT', '/v2/repo/manifests/v1', {
      body: second.manifest.bytes,
      headers: { 'Content-Type': second.mediaType, 'If-None-Match': '*' },
    });
    expect(create.status).toBe(412);
    const stale = await client.request('PUT', '/v2/repo/manifests/v1', {
      body: second.manifest.bytes,
      headers: { 'Content-Type': second.mediaType, 'If-Match': `"${second.manifest.digest}"` },
    });
    expect(stale.status).toBe(412);
    expect((await client.getManifest('repo', 'v1')).digest).toBe(first.manifest.digest);
    const ok = await client.request('PUT', '/v2/repo/manifests/v1', {
      body: second.manifest.bytes,
      headers: { 'Content-Type': second.mediaType, 'If-Match': etag },
    });
    expect(ok.status).toBe(201);
    expect((await client.getManifest('repo', 'v1')).digest).toBe(second.manifest.digest);
  });

  it('writes the revision before the tag, so a failure leaves no tag pointing at nothing (rule 6)', async () => {
    const storage = createMemoryStorage();
    const failing: MetadataStore = Object.assign(Object.create(null) as MetadataStore, {
      ...bindAll(storage.metadata),
      putManifest: async () => {
        throw new Error('disk on fire');
      },
    });
    const { client, registry } = setup({ storage: { ...storage, metadata: failing } });
    const image = makeImage();
    await pushBlobs(client, 'repo', image);
    const put = await client.putManifest('repo', 'v1', image.manifest, image.mediaType);
    expect(put.status).toBe(500);
    expect(await errorCode(put)).toBe('UNKNOWN');
    expect(await registry.storage.metadata.getTag('repo', 'v1')).toBeNull();
  });
});

/** A plain object with every method of a class instance bound to it. */
function bindAll<T extends object>(instance: T): T {
  const result: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(instance))) {
    const value = (instance as Record<string, unknown>)[key];
    if (key !== 'constructor' && typeof value === 'function') result[key] = value.bind(instance);
  }
  return result as T;
}
