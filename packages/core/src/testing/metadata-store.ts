import { describe, expect, it } from 'vitest';
import type { BlobLink, ManifestRecord } from '../stores/types.js';
import { content, type StoreHarness } from './harness.js';

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

/** Byte-wise order, as the spec's "ASCIIbetical". */
function asciibetical(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** MetadataStore contract tests. */
export function metadataStoreTests(
  use: (body: (h: StoreHarness) => Promise<void>) => () => Promise<void>,
): void {
  describe('MetadataStore', () => {
    it(
      'links blobs per repository',
      use(async ({ storage: { metadata } }) => {
        const a = content(32).digest;
        const b = content(32).digest;
        await metadata.linkBlob('x/y', a);
        await metadata.linkBlob('x/y', a);
        await metadata.linkBlob('x/y', b);
        expect(await metadata.hasBlobLink('x/y', a)).toBe(true);
        expect(await metadata.hasBlobLink('x', a)).toBe(false);
        expect(await metadata.hasBlobLink('x/y/z', a)).toBe(false);
        const links = await all<BlobLink>(metadata.listBlobLinks('x/y'));
        expect(links.map((l) => l.digest).sort()).toEqual([a, b].sort());
        for (const link of links)
          if (link.createdAt !== undefined) expect(link.createdAt).toBeInstanceOf(Date);
        // Linking again refreshes the link's age (garbage collection's grace period).
        const first = links.find((l) => l.digest === b)?.createdAt;
        if (first) {
          await new Promise((resolve) => setTimeout(resolve, 1100));
          await metadata.linkBlob('x/y', b);
          const again = (await all<BlobLink>(metadata.listBlobLinks('x/y'))).find(
            (l) => l.digest === b,
          )?.createdAt;
          expect(again!.getTime()).toBeGreaterThan(first.getTime());
        }
        expect(await metadata.unlinkBlob('x/y', a)).toBe(true);
        expect(await metadata.unlinkBlob('x/y', a)).toBe(false);
        expect(await metadata.hasBlobLink('x/y', a)).toBe(false);
        expect(await all(metadata.listBlobLinks('nothing/here'))).toEqual([]);
      }),
    );

    it(
      'records manifest revisions with their media type',
      use(async ({ storage: { metadata } }) => {
        const m1 = content(5).digest;
        const m2 = content(5).digest;
        const oci = 'application/vnd.oci.image.manifest.v1+json';
        const list = 'application/vnd.docker.distribution.manifest.list.v2+json';
        await metadata.putManifest('repo', { digest: m1, mediaType: oci });
        await metadata.putManifest('repo', { digest: m2, mediaType: list });
        expect(await metadata.getManifest('repo', m1)).toMatchObject({ digest: m1, mediaType: oci });
        expect(await metadata.getManifest('repo', m2)).toMatchObject({ digest: m2, mediaType: list });
        expect(await metadata.getManifest('other', m1)).toBeNull();
        const listed = await all<ManifestRecord>(metadata.listManifests('repo'));
        expect(listed.map((m) => m.digest).sort()).toEqual([m1, m2].sort());
        expect(await metadata.deleteManifest('repo', m1)).toBe(true);
        expect(await metadata.deleteManifest('repo', m1)).toBe(false);
        expect(await metadata.getManifest('repo', m1)).toBeNull();
      }),
    );

    it(
      'deletes links and revisions conditionally, and refreshes them when rewritten',
      use(async ({ storage: { metadata } }) => {
        const digest = content(5).digest;
        await metadata.linkBlob('r', digest);
        await metadata.putManifest('r', { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
        const past = new Date(Date.now() - 60_000);
        // Written after `past`: a collection that selected them earlier must not delete them.
        expect(await metadata.unlinkBlob('r', digest, { unmodifiedSince: past })).toBe(false);
        expect(await metadata.deleteManifest('r', digest, { unmodifiedSince: past })).toBe(false);
        expect(await metadata.hasBlobLink('r', digest)).toBe(true);
        expect(await metadata.getManifest('r', digest)).not.toBeNull();
        const before = (await metadata.getManifest('r', digest))?.createdAt;
        if (before) {
          await new Promise((resolve) => setTimeout(resolve, 1100));
          await metadata.putManifest('r', {
            digest,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
          });
          expect((await metadata.getManifest('r', digest))!.createdAt!.getTime()).toBeGreaterThan(
            before.getTime(),
          );
        }
        const future = new Date(Date.now() + 60_000);
        expect(await metadata.unlinkBlob('r', digest, { unmodifiedSince: future })).toBe(true);
        expect(await metadata.deleteManifest('r', digest, { unmodifiedSince: future })).toBe(true);
        expect(await metadata.hasBlobLink('r', digest)).toBe(false);
        expect(await metadata.getManifest('r', digest)).toBeNull();
      }),
    );

    it(
      'points, moves, lists and deletes tags in ASCIIbetical order',
      use(async ({ storage: { metadata } }) => {
        const d1 = content(5).digest;
        const d2 = content(5).digest;
        const tags = [
          'latest',
          'B',
          'a',
          '_x',
          '1.0',
          '1.0-rc',
          '10',
          '9',
          'a-b',
          'a.b',
          'a_b',
          'Z9',
          'v'.repeat(128),
        ];
        for (const tag of tags) await metadata.putTag('lib/app', tag, d1);
        await metadata.putTag('lib/app', 'latest', d2);
        expect(await metadata.getTag('lib/app', 'latest')).toBe(d2);
        expect(await metadata.getTag('lib/app', 'B')).toBe(d1);
        expect(await metadata.getTag('lib/app', 'b')).toBeNull();
        expect(await metadata.getTag('lib', 'latest')).toBeNull();
        const sorted = asciibetical(tags);
        expect(await metadata.listTags('lib/app')).toEqual(sorted);
        expect(await metadata.listTags('lib/app', { limit: 3 })).toEqual(sorted.slice(0, 3));
        expect(await metadata.listTags('lib/app', { after: sorted[2]!, limit: 4 })).toEqual(
          sorted.slice(3, 7),
        );
        expect(await metadata.listTags('lib/app', { after: sorted[sorted.length - 1]! })).toEqual([]);
        // `after` need not be an existing tag.
        expect(await metadata.listTags('lib/app', { after: 'a-a' })).toEqual(sorted.filter((t) => t > 'a-a'));
        expect(await metadata.deleteTag('lib/app', 'B')).toBe(true);
        expect(await metadata.deleteTag('lib/app', 'B')).toBe(false);
        expect(await metadata.listTags('lib/app')).toEqual(sorted.filter((t) => t !== 'B'));
        expect(await metadata.listTags('none')).toEqual([]);
      }),
    );

    it(
      'keeps every tag written concurrently',
      use(async ({ storage: { metadata } }) => {
        const digest = content(5).digest;
        const tags = Array.from({ length: 40 }, (_, i) => `t${String(i).padStart(2, '0')}`);
        await Promise.all(tags.map((tag) => metadata.putTag('busy', tag, digest)));
        expect(await metadata.listTags('busy')).toEqual(tags);
      }),
    );

    it(
      'indexes referrers by subject',
      use(async ({ storage: { metadata } }) => {
        const subject = content(5).digest;
        const other = content(5).digest;
        const sbom = {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: content(5).digest,
          size: 321,
          artifactType: 'application/vnd.example.sbom.v1',
          annotations: {
            'org.example.key': 'value',
            'org.opencontainers.image.created': '2026-01-01T00:00:00Z',
          },
        };
        const index = {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: content(5).digest,
          size: 99,
        };
        await metadata.putReferrer('r', subject, sbom);
        await metadata.putReferrer('r', subject, index);
        await metadata.putReferrer('r', other, index);
        const listed = await metadata.listReferrers('r', subject);
        const byDigest = new Map(listed.map((d) => [d.digest, d]));
        expect(byDigest.get(sbom.digest)).toEqual(sbom);
        expect(byDigest.get(index.digest)).toEqual(index);
        expect(listed).toHaveLength(2);
        await metadata.putReferrer('r', subject, { ...sbom, size: 322 });
        expect((await metadata.listReferrers('r', subject)).find((d) => d.digest === sbom.digest)?.size).toBe(
          322,
        );
        expect(await metadata.deleteReferrer('r', subject, sbom.digest)).toBe(true);
        expect(await metadata.deleteReferrer('r', subject, sbom.digest)).toBe(false);
        expect(await metadata.listReferrers('r', subject)).toEqual([index]);
        expect(await metadata.listReferrers('elsewhere', subject)).toEqual([]);
      }),
    );

    it(
      'lists repositories in ASCIIbetical order, nested names included',
      use(async ({ storage: { metadata } }) => {
        const digest = content(5).digest;
        const names = ['b', 'a/b/c', 'a/b', 'a-b', 'a', 'a.b/x', `n${'/x'.repeat(20)}`, 'z'.repeat(255)];
        expect(await metadata.hasRepository('a')).toBe(false);
        for (const [i, name] of names.entries()) {
          if (i % 3 === 0) await metadata.linkBlob(name, digest);
          else if (i % 3 === 1) await metadata.putManifest(name, { digest, mediaType: 'application/json' });
          else await metadata.putTag(name, 'latest', digest);
        }
        const sorted = asciibetical(names);
        expect(await metadata.listRepositories()).toEqual(sorted);
        expect(await metadata.listRepositories({ limit: 2 })).toEqual(sorted.slice(0, 2));
        expect(await metadata.listRepositories({ after: sorted[1]!, limit: 3 })).toEqual(sorted.slice(2, 5));
        for (const name of names) expect(await metadata.hasRepository(name)).toBe(true);
        expect(await metadata.hasRepository('a/b/c/d')).toBe(false);
      }),
    );
  });
}
