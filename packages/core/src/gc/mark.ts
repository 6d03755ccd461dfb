import type { RegistryContext } from '../context.js';
import { tryParseDigest } from '../oci/digest.js';
import { manifestReferences } from '../oci/manifest.js';
import { readManifestBytes, tagTargets } from '../stores/helpers.js';

/** One repository as the mark phase saw it. */
export interface RepositoryMark {
  readonly name: string;
  /** Blob links with their age. */
  readonly links: Map<string, Date | undefined>;
  /** Manifest revisions with their age. */
  readonly manifests: Map<string, Date | undefined>;
  /** Manifests to keep: reachable from tags (or every revision unless deleting untagged ones). */
  readonly reachable: Set<string>;
  /** Blobs (configs, layers) the reachable manifests reference. */
  readonly referenced: Set<string>;
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

/** Every valid digest a tag of the repository points at. */
async function tagDigests(ctx: RegistryContext, name: string): Promise<string[]> {
  const tags = await tagTargets(ctx.storage.metadata, name);
  return tags.flatMap(([, digest]) => (digest && tryParseDigest(digest) ? [digest] : []));
}

/**
 * Marks one repository: starting from its tags (or from every revision when untagged manifests
 * are kept), follows index children and the referrers of reachable manifests, collecting the blobs
 * they reference.
 */
export async function markRepository(
  ctx: RegistryContext,
  name: string,
  deleteUntagged: boolean,
): Promise<RepositoryMark> {
  const { metadata, blobs } = ctx.storage;
  const [links, records, tagged] = await Promise.all([
    all(metadata.listBlobLinks(name)),
    all(metadata.listManifests(name)),
    tagDigests(ctx, name),
  ]);
  const mark: RepositoryMark = {
    name,
    links: new Map(links.map((l) => [l.digest, l.createdAt])),
    manifests: new Map(records.map((m) => [m.digest, m.createdAt])),
    reachable: new Set(),
    referenced: new Set(),
  };
  const queue = deleteUntagged ? [...tagged] : [...tagged, ...mark.manifests.keys()];
  while (queue.length > 0) {
    const batch = queue
      .splice(0, 16)
      .filter((digest) => !mark.reachable.has(digest) && mark.manifests.has(digest));
    for (const digest of batch) mark.reachable.add(digest);
    await Promise.all(
      batch.map(async (digest) => {
        const [bytes, referrers] = await Promise.all([
          readManifestBytes(blobs, digest, ctx.limits.manifestMaxBytes),
          metadata.listReferrers(name, digest),
        ]);
        for (const referrer of referrers) queue.push(referrer.digest);
        if (!bytes) return;
        const references = manifestReferences(bytes);
        for (const blob of references.blobs) mark.referenced.add(blob);
        for (const child of references.manifests) queue.push(child);
      }),
    );
  }
  return mark;
}

/** Every repository name. */
export async function repositoryNames(ctx: RegistryContext): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.storage.metadata.listRepositories({
      ...(after === undefined ? {} : { after }),
      limit: 1000,
    });
    names.push(...page);
    if (page.length < 1000) return names;
    after = page[page.length - 1];
  }
}
