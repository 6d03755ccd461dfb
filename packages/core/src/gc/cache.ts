import type { RegistryContext } from '../context.js';
import { tryParseDigest } from '../oci/digest.js';
import { manifestReferences, manifestSubject } from '../oci/manifest.js';
import { isOverrideMarker, overrideMarker, upstreamOf } from '../proxy/routing.js';
import type { Upstream } from '../proxy/services.js';
import { readManifestBytes, tagTargets } from '../stores/helpers.js';
import { repositoryNames } from './mark.js';

/** Cached content of an upstream that a collection removed (or, in a dry run, would remove). */
export interface CacheEviction {
  /** The upstream's namespace. */
  readonly upstream: string;
  readonly repository: string;
  /** The image's top manifest; its index children and referrers went with it. */
  readonly digest: string;
  /** The tags that pointed at it. */
  readonly tags: readonly string[];
  /** When it was last pulled, as far as storage recorded it. */
  readonly lastUsed: Date;
  /** Unused for longer than `cache.maxUnusedAge`, or the least recently used over `cache.maxBytes`. */
  readonly reason: 'unused' | 'budget';
  /** Bytes of manifests and blobs no other cached image of the upstream uses. */
  readonly bytes: number;
}

/** One image cached in a repository: a top manifest with its children and referrers. */
interface CachedImage {
  readonly repository: string;
  readonly root: string;
  /** Every manifest of the image. */
  readonly manifests: Set<string>;
  /** Blobs its manifests reference. */
  readonly blobs: Set<string>;
  readonly tags: string[];
  /** The latest date a pull refreshed on its revisions and blob links. */
  lastUsed: number;
  /** Pushed here as a local override, or streaming now: never removed. */
  pinned: boolean;
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

/**
 * The images cached in one repository. A manifest that is an index child or a referrer of another
 * manifest here belongs to that manifest's image; the rest are tops of their own.
 */
async function imagesOf(
  ctx: RegistryContext,
  upstream: Upstream,
  repository: string,
): Promise<CachedImage[]> {
  const { metadata, blobs } = ctx.storage;
  const [records, links, tags] = await Promise.all([
    all(metadata.listManifests(repository)),
    all(metadata.listBlobLinks(repository)),
    tagTargets(metadata, repository),
  ]);
  const linkDates = new Map(links.map((l) => [l.digest, l.createdAt?.getTime() ?? Number.POSITIVE_INFINITY]));
  const manifests = new Map<
    string,
    { date: number; children: string[]; blobs: string[]; subject?: string }
  >();
  await Promise.all(
    records.map(async (record) => {
      const bytes = await readManifestBytes(blobs, record.digest, ctx.limits.manifestMaxBytes);
      const references = bytes ? manifestReferences(bytes) : { blobs: [], manifests: [] };
      const subject = bytes ? manifestSubject(bytes) : undefined;
      manifests.set(record.digest, {
        date: record.createdAt?.getTime() ?? Number.POSITIVE_INFINITY,
        children: [...references.manifests],
        blobs: [...references.blobs],
        ...(subject ? { subject } : {}),
      });
    }),
  );
  const parentOf = new Map<string, string>();
  for (const [digest, manifest] of manifests) {
    for (const child of manifest.children)
      if (manifests.has(child) && child !== digest) parentOf.set(child, digest);
    if (manifest.subject && manifests.has(manifest.subject) && manifest.subject !== digest) {
      parentOf.set(digest, manifest.subject);
    }
  }
  const overrides = new Set(
    tags.filter(([tag, target]) => isOverrideMarker(tag) && target !== null).map(([tag]) => tag),
  );
  const images = new Map<string, CachedImage>();
  const rootOf = (digest: string): string => {
    const seen = new Set<string>();
    let current = digest;
    while (parentOf.has(current) && !seen.has(current)) {
      seen.add(current);
      current = parentOf.get(current)!;
    }
    return current;
  };
  for (const [digest, manifest] of manifests) {
    const root = rootOf(digest);
    let image = images.get(root);
    if (!image) {
      image = {
        repository,
        root,
        manifests: new Set(),
        blobs: new Set(),
        tags: [],
        lastUsed: 0,
        pinned: false,
      };
      images.set(root, image);
    }
    image.manifests.add(digest);
    for (const blob of manifest.blobs) if (tryParseDigest(blob)) image.blobs.add(blob);
    image.lastUsed = Math.max(image.lastUsed, manifest.date);
  }
  for (const image of images.values()) {
    for (const blob of image.blobs) image.lastUsed = Math.max(image.lastUsed, linkDates.get(blob) ?? 0);
  }
  for (const [tag, target] of tags) {
    if (target === null || isOverrideMarker(tag)) continue;
    const image = manifests.has(target) ? images.get(rootOf(target)) : undefined;
    if (!image) continue;
    image.tags.push(tag);
    if (upstream.config.localOverrides && overrides.has(overrideMarker(tag))) image.pinned = true;
  }
  return [...images.values()];
}

/** Removes one image's tags, referrers entries, revisions and blob links (docs/architecture.md, rule 6 in reverse). */
async function remove(
  ctx: RegistryContext,
  image: CachedImage,
  keepBlobs: ReadonlySet<string>,
): Promise<void> {
  const { metadata, blobs } = ctx.storage;
  // A pull that refreshed the image after it was selected keeps it.
  const unmodifiedSince = new Date(image.lastUsed);
  for (const tag of image.tags) await metadata.deleteTag(image.repository, tag);
  for (const digest of image.manifests) {
    const bytes = await readManifestBytes(blobs, digest, ctx.limits.manifestMaxBytes);
    const subject = bytes ? manifestSubject(bytes) : undefined;
    if (!(await metadata.deleteManifest(image.repository, digest, { unmodifiedSince }))) continue;
    if (subject) await metadata.deleteReferrer(image.repository, subject, digest);
  }
  for (const blob of image.blobs) {
    if (!keepBlobs.has(blob)) await metadata.unlinkBlob(image.repository, blob, { unmodifiedSince });
  }
}

/** Options of {@link collectCache}. */
export interface CacheCollectOptions {
  readonly dryRun: boolean;
  readonly now: number;
  readonly check: () => void;
}

/**
 * Garbage collection of pull-through caches (docs/architecture.md, "Pull-through cache"): for
 * every upstream with a cache lifecycle, cached images not pulled for `maxUnusedAge` go, then the
 * least recently pulled until the upstream's cached content fits `maxBytes`. Local overrides and
 * images being streamed stay. Only the references go here; the collection that follows removes
 * the bytes nothing references any more.
 */
export async function collectCache(
  ctx: RegistryContext,
  options: CacheCollectOptions,
): Promise<CacheEviction[]> {
  const proxy = ctx.proxy;
  const upstreams = proxy?.upstreams.filter(
    (u) => u.config.cache.maxUnusedAge !== undefined || u.config.cache.maxBytes !== undefined,
  );
  if (!proxy || !upstreams || upstreams.length === 0) return [];
  const names = await repositoryNames(ctx);
  const evicted: CacheEviction[] = [];
  for (const upstream of upstreams) {
    const images: CachedImage[] = [];
    for (const name of names.filter((n) => upstreamOf(proxy, n) === upstream)) {
      options.check();
      images.push(...(await imagesOf(ctx, upstream, name)));
    }
    for (const image of images) {
      // Being streamed right now, or of unknown age (a store that keeps no dates): stays.
      const streaming = [...image.manifests, ...image.blobs].some((digest) => proxy.streaming(digest));
      if (streaming || !Number.isFinite(image.lastUsed)) image.pinned = true;
    }
    // How many cached images use each digest, and how big it is.
    const users = new Map<string, number>();
    for (const image of images) {
      for (const digest of new Set([...image.manifests, ...image.blobs]))
        users.set(digest, (users.get(digest) ?? 0) + 1);
    }
    const sizes = new Map<string, number>();
    await Promise.all(
      [...users.keys()].map(async (digest) =>
        sizes.set(digest, (await ctx.storage.blobs.stat(digest))?.size ?? 0),
      ),
    );
    let total = [...sizes.values()].reduce((sum, size) => sum + size, 0);
    const gone = new Set<CachedImage>();
    const evict = async (image: CachedImage, reason: CacheEviction['reason']): Promise<void> => {
      let bytes = 0;
      for (const digest of new Set([...image.manifests, ...image.blobs])) {
        const left = (users.get(digest) ?? 1) - 1;
        users.set(digest, left);
        if (left === 0) bytes += sizes.get(digest) ?? 0;
      }
      total -= bytes;
      gone.add(image);
      options.check();
      // Blob links other images of the repository still use stay.
      const neighbours = images.filter((other) => other.repository === image.repository && !gone.has(other));
      if (!options.dryRun) await remove(ctx, image, new Set(neighbours.flatMap((other) => [...other.blobs])));
      for (const tag of image.tags) proxy.forgetTagCheck(image.repository, tag);
      evicted.push({
        upstream: upstream.config.namespace,
        repository: image.repository,
        digest: image.root,
        tags: image.tags,
        lastUsed: new Date(image.lastUsed),
        reason,
        bytes,
      });
    };
    const { maxUnusedAge, maxBytes } = upstream.config.cache;
    const candidates = images.filter((image) => !image.pinned).sort((a, b) => a.lastUsed - b.lastUsed);
    const kept: CachedImage[] = [];
    for (const image of candidates) {
      if (maxUnusedAge !== undefined && image.lastUsed < options.now - maxUnusedAge)
        await evict(image, 'unused');
      else kept.push(image);
    }
    for (const image of kept) {
      if (maxBytes === undefined || total <= maxBytes) break;
      await evict(image, 'budget');
    }
  }
  return evicted;
}
