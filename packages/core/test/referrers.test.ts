import { referrersTag } from '@wharf/core';
import { makeImage, makeIndex } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

type Index = { schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> };

async function referrers(
  client: ReturnType<typeof setup>['client'],
  repo: string,
  digest: string,
  query = '',
) {
  const res = await client.request('GET', `/v2/${repo}/referrers/${digest}${query}`);
  return { res, body: (await res.json()) as Index };
}

/** Pushes an image plus artifacts referring to it; returns them. */
async function populate(client: ReturnType<typeof setup>['client']) {
  const image = makeImage();
  await client.pushImage('repo', 'v1', image);
  const subject = {
    mediaType: OCI_MANIFEST,
    digest: image.manifest.digest,
    size: image.manifest.bytes.byteLength,
  };
  const sbom = makeImage({
    subject,
    artifactType: 'application/vnd.example.sbom',
    annotations: { kind: 'sbom' },
  });
  // No artifactType: the config media type stands in.
  const sig = makeImage({ subject, annotations: { kind: 'signature' } });
  for (const artifact of [sbom, sig]) await client.pushImage('repo', artifact.manifest.digest, artifact);
  const index = makeIndex(
    [{ mediaType: OCI_MANIFEST, digest: sbom.manifest.digest, size: sbom.manifest.bytes.byteLength }],
    { subject, annotations: { kind: 'index' } },
  );
  const put = await client.putManifest('repo', index.digest, index, OCI_INDEX);
  expect(put.headers.get('oci-subject')).toBe(image.manifest.digest);
  return { image, sbom, sig, index };
}

describe('referrers API', () => {
  it('lists manifests and indexes whose subject is the digest, with artifactType and annotations', async () => {
    const { client } = setup();
    const { image, sbom, sig, index } = await populate(client);
    const { res, body } = await referrers(client, 'repo', image.manifest.digest);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    expect(res.headers.get('oci-filters-applied')).toBeNull();
    expect(body.schemaVersion).toBe(2);
    expect(body.mediaType).toBe(OCI_INDEX);
    const byDigest = new Map(body.manifests.map((d) => [d.digest, d]));
    expect(byDigest.size).toBe(3);
    expect(byDigest.get(sbom.manifest.digest)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sbom.manifest.digest,
      size: sbom.manifest.bytes.byteLength,
      artifactType: 'application/vnd.example.sbom',
      annotations: { kind: 'sbom' },
    });
    expect(byDigest.get(sig.manifest.digest)?.artifactType).toBe('application/vnd.oci.image.config.v1+json');
    expect(byDigest.get(index.digest)).toEqual({
      mediaType: OCI_INDEX,
      digest: index.digest,
      size: index.bytes.byteLength,
      annotations: { kind: 'index' },
    });
  });

  it('filters by artifactType and says so in OCI-Filters-Applied', async () => {
    const { client } = setup();
    const { image, sbom } = await populate(client);
    const { res, body } = await referrers(
      client,
      'repo',
      image.manifest.digest,
      '?artifactType=application/vnd.example.sbom',
    );
    expect(res.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(body.manifests.map((d) => d.digest)).toEqual([sbom.manifest.digest]);
  });

  it('answers an empty index for unknown digests and repositories, 400 for invalid digests', async () => {
    const { client } = setup();
    const { body, res } = await referrers(client, 'nothing', `sha256:${'a'.repeat(64)}`);
    expect(res.status).toBe(200);
    expect(body.manifests).toEqual([]);
    expect((await client.request('GET', '/v2/repo/referrers/sha256:zz')).status).toBe(400);
  });

  it('drops a referrer when its manifest is deleted', async () => {
    const { client } = setup();
    const { image, sbom } = await populate(client);
    expect((await client.request('DELETE', `/v2/repo/manifests/${sbom.manifest.digest}`)).status).toBe(202);
    const { body } = await referrers(client, 'repo', image.manifest.digest);
    expect(body.manifests.map((d) => d.digest)).not.toContain(sbom.manifest.digest);
    expect(body.manifests).toHaveLength(2);
  });

  it('paginates with Link rel="next"', async () => {
    const { client } = setup({ limits: { pageSize: 2 } });
    const { image } = await populate(client);
    const first = await referrers(client, 'repo', image.manifest.digest);
    expect(first.body.manifests).toHaveLength(2);
    const link = first.res.headers.get('link')!;
    expect(link).toMatch(/rel="next"$/);
    const next = await client.request('GET', /^<([^>]+)>/.exec(link)![1]!);
    const rest = (await next.json()) as Index;
    expect(rest.manifests).toHaveLength(1);
    expect(next.headers.get('link')).toBeNull();
    const digests = [...first.body.manifests, ...rest.manifests].map((d) => d.digest);
    expect(new Set(digests).size).toBe(3);
  });

  it('includes referrers recorded under the referrers tag schema (upgrade rule)', async () => {
    // Manifests pushed while the API was off (a client then maintains the tag-schema index).
    const storage = setup({ features: { referrers: false } });
    const { client } = storage;
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    const subject = {
      mediaType: OCI_MANIFEST,
      digest: image.manifest.digest,
      size: image.manifest.bytes.byteLength,
    };
    const old = makeImage({ subject, artifactType: 'application/vnd.old', annotations: { a: 'b' } });
    for (const blob of [old.config, ...old.layers]) await client.pushBlob('repo', blob.bytes);
    const put = await client.putManifest('repo', old.manifest.digest, old.manifest, old.mediaType);
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBeNull();
    expect((await client.request('GET', `/v2/repo/referrers/${image.manifest.digest}`)).status).toBe(404);
    // A stray entry that does not really refer to the subject must not be listed.
    const unrelated = makeImage();
    await client.pushImage('repo', unrelated.manifest.digest, unrelated);
    const tagIndex = makeIndex([
      {
        mediaType: OCI_MANIFEST,
        digest: old.manifest.digest,
        size: old.manifest.bytes.byteLength,
        artifactType: 'application/vnd.old',
      },
      {
        mediaType: OCI_MANIFEST,
        digest: unrelated.manifest.digest,
        size: unrelated.manifest.bytes.byteLength,
      },
    ]);
    const tag = referrersTag(image.manifest.digest);
    expect((await client.putManifest('repo', tag, tagIndex, OCI_INDEX)).status).toBe(201);

    // The registry is upgraded: the same storage, referrers on.
    const upgraded = setup({ storage: storage.registry.storage });
    const { body } = await referrers(upgraded.client, 'repo', image.manifest.digest);
    expect(body.manifests).toEqual([
      {
        mediaType: OCI_MANIFEST,
        digest: old.manifest.digest,
        size: old.manifest.bytes.byteLength,
        artifactType: 'application/vnd.old',
        annotations: { a: 'b' },
      },
    ]);
  });

  it('computes referrers tags as the spec table does', () => {
    expect(referrersTag(`sha256:${'a'.repeat(64)}`)).toBe(`sha256-${'a'.repeat(64)}`);
    expect(referrersTag(`sha512:${'a'.repeat(128)}`)).toBe(`sha512-${'a'.repeat(64)}`);
    expect(
      referrersTag(
        'test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation',
      ),
    ).toBe(
      'test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot',
    );
  });

  it('answers 404 when the referrers API is disabled', async () => {
    const { client } = setup({ features: { referrers: false } });
    const res = await client.request('GET', `/v2/repo/referrers/sha256:${'a'.repeat(64)}`);
    expect(res.status).toBe(404);
    // The manifest itself is still accepted, without OCI-Subject (clients then use the tag schema).
    const subject = { mediaType: OCI_MANIFEST, digest: `sha256:${'b'.repeat(64)}`, size: 1 };
    const artifact = makeImage({ subject });
    for (const blob of [artifact.config, ...artifact.layers]) await client.pushBlob('repo', blob.bytes);
    const put = await client.putManifest('repo', 'x', artifact.manifest, artifact.mediaType);
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBeNull();
  });
});
