import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { sweptEvents } from '../events/gc.js';
import { manifestSubject } from '../oci/manifest.js';
import { readManifestBytes } from '../stores/helpers.js';
import type { BlobInfo } from '../stores/types.js';
import { collectCache } from './cache.js';
import { markRepository, type RepositoryMark, repositoryNames } from './mark.js';
import type { GcOptions, GcProgress, GcReport } from './types.js';

const HOUR = 60 * 60 * 1000;

/** Keys of per-repository items. */
const key = (repository: string, digest: string): string => `${repository}\u0000${digest}`;
const unkey = (k: string): { repository: string; digest: string } => {
  const [repository, digest] = k.split('\u0000') as [string, string];
  return { repository, digest };
};

interface Selection {
  /** Revisions to delete (untagged and old). */
  readonly manifests: Set<string>;
  /** Links to delete (unreferenced and old). */
  readonly links: Set<string>;
  /** Blob digests still referenced by something kept. */
  readonly keep: Set<string>;
}

/**
 * What one full mark would delete. Ages fall back to the blob's own age when a store does not
 * record when a link or revision was written.
 */
function select(
  marks: RepositoryMark[],
  blobs: Map<string, BlobInfo>,
  cutoff: number,
  deleteUntagged: boolean,
): Selection {
  const ageOf = (date: Date | undefined, digest: string) =>
    date?.getTime() ?? blobs.get(digest)?.modifiedAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const selection: Selection = { manifests: new Set(), links: new Set(), keep: new Set() };
  for (const mark of marks) {
    for (const [digest, createdAt] of mark.manifests) {
      if (deleteUntagged && !mark.reachable.has(digest) && ageOf(createdAt, digest) < cutoff) {
        selection.manifests.add(key(mark.name, digest));
      } else {
        selection.keep.add(digest);
      }
    }
    for (const digest of mark.referenced) selection.keep.add(digest);
    for (const [digest, createdAt] of mark.links) {
      if (!mark.referenced.has(digest) && !mark.reachable.has(digest) && ageOf(createdAt, digest) < cutoff) {
        selection.links.add(key(mark.name, digest));
      } else {
        selection.keep.add(digest);
      }
    }
  }
  return selection;
}

/**
 * Online garbage collection through the store interfaces.
 *
 * Safety against concurrent pushes (on this or any replica) comes from four things: content younger
 * than the grace period is never swept; a second full mark right before the sweep drops everything
 * that became referenced meanwhile; pushes that reuse old content refresh it (links rewritten,
 * blobs touched) and blob deletion is conditional on the blob not having been touched since it was
 * selected; and a manifest push re-checks its references after writing its tags.
 */
export async function collectGarbage(ctx: RegistryContext, options: GcOptions = {}): Promise<GcReport> {
  const startedAt = new Date(ctx.clock.now());
  const dryRun = options.dryRun ?? false;
  const deleteUntagged = options.deleteUntagged ?? false;
  const cutoff = startedAt.getTime() - (options.gracePeriod ?? HOUR);
  const uploadCutoff = startedAt.getTime() - (options.uploadMaxAge ?? 24 * HOUR);
  const progress = (p: GcProgress) => options.onProgress?.(p);
  const check = () => {
    if (options.signal?.aborted)
      throw new RegistryError('UNKNOWN', { message: 'garbage collection aborted' });
  };
  const { blobs, metadata, uploads } = ctx.storage;

  const markAll = async (phase: 'mark' | 'remark'): Promise<RepositoryMark[]> => {
    const names = await repositoryNames(ctx);
    const marks: RepositoryMark[] = [];
    for (const name of names) {
      check();
      marks.push(await markRepository(ctx, name, deleteUntagged));
      progress({ phase, done: marks.length, total: names.length });
    }
    return marks;
  };

  const cache =
    options.cache === false ? [] : await collectCache(ctx, { dryRun, now: startedAt.getTime(), check });
  if (cache.length > 0) progress({ phase: 'cache', done: cache.length, total: cache.length });
  const first = await markAll('mark');
  const stored = new Map<string, BlobInfo>();
  for await (const info of blobs.list()) stored.set(info.digest, info);
  const before = select(first, stored, cutoff, deleteUntagged);
  check();
  // Anything referenced, linked or revised since the first mark is kept.
  const second = await markAll('remark');
  const after = select(second, stored, cutoff, deleteUntagged);
  const manifests = [...before.manifests].filter((k) => after.manifests.has(k));
  const links = [...before.links].filter((k) => after.links.has(k));
  const keep = new Set([...before.keep, ...after.keep]);
  const candidates = [...stored.values()].filter(
    (info) => !keep.has(info.digest) && (info.modifiedAt?.getTime() ?? Number.POSITIVE_INFINITY) < cutoff,
  );

  const deleted = {
    manifests: [] as Array<{ repository: string; digest: string }>,
    links: [] as Array<{ repository: string; digest: string }>,
    blobs: [] as Array<{ digest: string; size: number }>,
    uploads: [] as Array<{ id: string; repository: string; size: number }>,
    leftovers: [] as Array<{ description: string; size: number }>,
  };

  // Revisions first, then links, then bytes: the reverse of a push, so nothing points at data that is gone.
  for (const [i, k] of manifests.entries()) {
    check();
    const { repository, digest } = unkey(k);
    if (!dryRun) {
      const bytes = await readManifestBytes(blobs, digest, ctx.limits.manifestMaxBytes);
      const subject = bytes ? manifestSubject(bytes) : undefined;
      // A push that rewrote the revision since it was selected keeps it.
      if (!(await metadata.deleteManifest(repository, digest, { unmodifiedSince: new Date(cutoff) })))
        continue;
      if (subject) await metadata.deleteReferrer(repository, subject, digest);
    }
    deleted.manifests.push({ repository, digest });
    progress({ phase: 'sweep-manifests', done: i + 1, total: manifests.length });
  }
  for (const [i, k] of links.entries()) {
    check();
    const { repository, digest } = unkey(k);
    if (!dryRun && !(await metadata.unlinkBlob(repository, digest, { unmodifiedSince: new Date(cutoff) })))
      continue;
    deleted.links.push({ repository, digest });
    progress({ phase: 'sweep-links', done: i + 1, total: links.length });
  }
  let bytesReclaimed = 0;
  for (const [i, info] of candidates.entries()) {
    check();
    const removed = dryRun || (await blobs.delete(info.digest, { unmodifiedSince: new Date(cutoff) }));
    if (removed) {
      deleted.blobs.push({ digest: info.digest, size: info.size });
      bytesReclaimed += info.size;
    }
    progress({ phase: 'sweep-blobs', done: i + 1, total: candidates.length });
  }

  let keptUploads = 0;
  for await (const session of uploads.list()) {
    check();
    if (session.updatedAt.getTime() < uploadCutoff) {
      if (dryRun || (await uploads.delete(session.id))) {
        ctx.liveHashers.forget(session.id);
        deleted.uploads.push({ id: session.id, repository: session.repository, size: session.size });
        bytesReclaimed += session.size;
      }
    } else {
      keptUploads++;
    }
    progress({ phase: 'uploads', done: deleted.uploads.length + keptUploads });
  }
  // After the sessions: what a reaped session owned is no leftover, and is gone already.
  if (uploads.reapLeftovers) {
    check();
    const leftovers = await uploads.reapLeftovers({
      sessionsBefore: new Date(uploadCutoff),
      othersBefore: new Date(cutoff),
      dryRun,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for (const leftover of leftovers) {
      deleted.leftovers.push({ description: leftover.description, size: leftover.size });
      bytesReclaimed += leftover.size;
    }
    progress({ phase: 'leftovers', done: leftovers.length, total: leftovers.length });
  }

  const report: GcReport = {
    dryRun,
    startedAt,
    finishedAt: new Date(ctx.clock.now()),
    repositories: second.length,
    kept: {
      manifests: second.reduce((n, m) => n + m.manifests.size, 0) - deleted.manifests.length,
      links: second.reduce((n, m) => n + m.links.size, 0) - deleted.links.length,
      blobs: stored.size - deleted.blobs.length,
      uploads: keptUploads,
    },
    deleted,
    bytesReclaimed,
    cache,
  };
  if (!dryRun) await ctx.recorder.publish(sweptEvents(report).map((event) => ctx.recorder.stamp(event)));
  progress({ phase: 'done', done: 1, total: 1 });
  return report;
}
