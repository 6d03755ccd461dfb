import type { RegistryContext } from '../context.js';
import { tryParseDigest } from '../oci/digest.js';
import { manifestReferences } from '../oci/manifest.js';
import { collectBytes } from '../util/bytes.js';

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

/** Every tag target of a repository. */
async function tagTargets(ctx: RegistryContext, name: string): Promise<string[]> {
  const targets: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.storage.metadata.listTags(name, {
      ...(after === undefined ? {} : { after }),
      limit: 1000,
    });
    const digests = await Promise.all(page.map((tag) => ctx.storage.metadata.getTag(name, tag)));
    for (const digest of digests) if (digest && tryParseDigest(digest)) targets.push(digest);
    if (page.length < 1000) return targets;
    after = page[page.length - 1];
  }
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
    tagTargets(ctx, name),
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
        const [stream, referrers] = await Promise.all([
          blobs.open(digest),
          metadata.listReferrers(name, digest),
        ]);
        for (const referrer of referrers) queue.push(referrer.digest);
        if (!stream) return;
        const references = manifestReferences(await collectBytes(stream, 64 * 1024 * 1024));
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
