import type { Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type BlobLink,
  type ConditionalDelete,
  compareBytewise,
  isDigestAlgorithm,
  isRepositoryName,
  isTag,
  type ListPage,
  type ManifestRecord,
  type MetadataStore,
  pageOf,
  type ReferrerDescriptor,
  tryParseDigest,
} from '@wharf/core';
import { Cache, type Stamp, sameStamp, settled, stampOf } from './cache.js';
import { isMissing } from './errors.js';
import type { Io } from './io.js';
import type { Layout } from './layout.js';

/** wharf's own file next to a revision link: the media type the client pushed. */
const MEDIA_TYPE_FILE = 'mediatype';
const REFERRER_FILE = /^([a-z0-9]+)-([a-f0-9]+)\.json$/;
/** Tag existence checks run this many at a time. */
const PARALLEL = 32;
/** Entries of each validated cache. */
const CACHE_SIZE = 4096;

/**
 * Repositories in distribution's layout: every record is one small file written atomically
 * (temporary file + rename), links contain the digest they point at, and emptied directories are
 * pruned. Core orders the writes (docs/architecture.md, upload rule 6) so a crash never leaves a
 * dangling reference.
 */
export class FsMetadataStore implements MetadataStore {
  readonly #layout: Layout;
  readonly #io: Io;
  /** Media types of revisions, valid while their link file is unchanged (a pure optimisation). */
  readonly #mediaTypes = new Cache<{ readonly stamp: Stamp; readonly mediaType: string | null }>(CACHE_SIZE);
  /** Tag targets, valid while the tag's link file is unchanged (a pure optimisation). */
  readonly #tags = new Cache<{ readonly stamp: Stamp; readonly digest: string | null }>(CACHE_SIZE);

  constructor(layout: Layout, io: Io) {
    this.#layout = layout;
    this.#io = io;
  }

  /** Drops the in-memory caches. */
  forget(): void {
    this.#mediaTypes.clear();
    this.#tags.clear();
  }

  /** `<alg>/<hex>` directory pairs below `dir` that form a supported digest. */
  async #digestDirs(dir: string): Promise<Array<{ digest: string; path: string }>> {
    const found: Array<{ digest: string; path: string }> = [];
    for (const algorithm of await this.#io.list(dir)) {
      if (!isDigestAlgorithm(algorithm)) continue;
      for (const hex of await this.#io.list(join(dir, algorithm))) {
        const digest = `${algorithm}:${hex}`;
        if (tryParseDigest(digest)) found.push({ digest, path: join(dir, algorithm, hex) });
      }
    }
    return found;
  }

  // ---- blob links ----

  async linkBlob(repository: string, digest: string): Promise<void> {
    const link = this.#layout.layerLink(repository, digest);
    // Linking again restarts the link's grace period (its createdAt is the file's mtime).
    if (await this.#io.hasLink(link)) {
      if (await this.#io.refresh(link)) return;
      await this.#io.writeAtomic(link, digest);
      return;
    }
    await this.#io.writeAtomic(link, digest, { newDir: true });
  }

  async hasBlobLink(repository: string, digest: string): Promise<boolean> {
    // The link's path names the digest; its content (the same digest) need not be read.
    return this.#io.hasLink(this.#layout.layerLink(repository, digest));
  }

  async unlinkBlob(repository: string, digest: string, options: ConditionalDelete = {}): Promise<boolean> {
    const link = this.#layout.layerLink(repository, digest);
    const removed = await this.#io.removeUnlessNewer(link, options.unmodifiedSince);
    if (removed) await this.#io.prune(dirname(link), this.#layout.layersDir(repository));
    return removed;
  }

  async *listBlobLinks(repository: string): AsyncIterable<BlobLink> {
    for (const { digest, path } of await this.#digestDirs(this.#layout.layersDir(repository))) {
      try {
        const info = await this.#io.fs.stat(join(path, 'link'));
        yield { digest, createdAt: info.mtime };
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }

  // ---- manifest revisions ----

  async putManifest(repository: string, record: { digest: string; mediaType: string }): Promise<void> {
    const dir = this.#layout.revisionDir(repository, record.digest);
    const link = join(dir, 'link');
    const [linked, mediaType] = await Promise.all([
      this.#io.hasLink(link),
      this.#io.readText(join(dir, MEDIA_TYPE_FILE)),
    ]);
    // The media type first: once the link is visible, so is its media type.
    if (mediaType !== record.mediaType) {
      await this.#io.writeAtomic(join(dir, MEDIA_TYPE_FILE), record.mediaType, {
        newDir: !linked && mediaType === null,
      });
    }
    // Writing a revision again restarts its grace period (its createdAt is the link's mtime).
    if (linked && (await this.#io.refresh(link))) return;
    await this.#io.writeAtomic(link, record.digest);
    // distribution's catalog lists only directories holding `_layers`.
    await this.#io.fs.mkdir(this.#layout.layersDir(repository), { recursive: true });
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const dir = this.#layout.revisionDir(repository, digest);
    const key = `${repository}@${digest}`;
    const before = Date.now();
    const info = await this.#io.statLink(join(dir, 'link'));
    if (!info) {
      this.#mediaTypes.delete(key);
      return null;
    }
    // putManifest writes the media type before it writes or refreshes the link, so an unchanged
    // link (same inode and times) means an unchanged media type, in this process or any other.
    const cached = this.#mediaTypes.get(key);
    let mediaType: string | null;
    if (cached && sameStamp(cached.stamp, info)) {
      mediaType = cached.mediaType;
    } else {
      mediaType = await this.#io.readText(join(dir, MEDIA_TYPE_FILE));
      if (settled(info, before)) this.#mediaTypes.set(key, { stamp: stampOf(info), mediaType });
    }
    const createdAt = info.mtime;
    // A revision distribution wrote has no media type: core then reads it from the bytes.
    return mediaType ? { digest, mediaType, createdAt } : { digest, createdAt };
  }

  async deleteManifest(
    repository: string,
    digest: string,
    options: ConditionalDelete = {},
  ): Promise<boolean> {
    const dir = this.#layout.revisionDir(repository, digest);
    const removed = await this.#io.removeUnlessNewer(join(dir, 'link'), options.unmodifiedSince);
    if (!removed) return false;
    await this.#io.unlink(join(dir, MEDIA_TYPE_FILE));
    await this.#io.prune(dir, this.#layout.revisionsDir(repository));
    return true;
  }

  async *listManifests(repository: string): AsyncIterable<ManifestRecord> {
    for (const { digest, path } of await this.#digestDirs(this.#layout.revisionsDir(repository))) {
      let createdAt: Date;
      try {
        createdAt = (await this.#io.fs.stat(join(path, 'link'))).mtime;
      } catch (error) {
        if (isMissing(error)) continue;
        throw error;
      }
      const mediaType = await this.#io.readText(join(path, MEDIA_TYPE_FILE));
      yield mediaType ? { digest, mediaType, createdAt } : { digest, createdAt };
    }
  }

  // ---- tags ----

  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    // Usually answered by the tag cache with one stat.
    if ((await this.getTag(repository, tag)) === digest) return;
    const current = this.#layout.tagCurrentLink(repository, tag);
    // As distribution does: the tag's index entry, then its current link.
    await this.#io.writeAtomic(this.#layout.tagIndexLink(repository, tag, digest), digest, {
      newDir: true,
    });
    await this.#io.writeAtomic(current, digest);
  }

  async getTag(repository: string, tag: string): Promise<string | null> {
    const path = this.#layout.tagCurrentLink(repository, tag);
    const key = `${repository}:${tag}`;
    const before = Date.now();
    // One stat instead of open, read and close when the link is the one read before: a tag move
    // replaces the file (or, by distribution, rewrites it), which changes its stamp.
    const info = await this.#io.statLink(path);
    if (!info) {
      this.#tags.delete(key);
      return null;
    }
    const cached = this.#tags.get(key);
    if (cached && sameStamp(cached.stamp, info)) return cached.digest;
    const text = await this.#io.readText(path);
    const digest = text?.trim();
    const valid = digest && tryParseDigest(digest) ? digest : null;
    if (text !== null && settled(info, before)) this.#tags.set(key, { stamp: stampOf(info), digest: valid });
    return valid;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const dir = this.#layout.tagDir(repository, tag);
    const existed = (await this.getTag(repository, tag)) !== null;
    // Moved away in one step, so a concurrent putTag either precedes the delete or survives it.
    const trash = this.#io.temp('tag');
    try {
      await this.#io.fs.rename(dir, trash);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await this.#io.discard(trash);
    return existed;
  }

  async listTags(repository: string, page: ListPage = {}): Promise<string[]> {
    const dir = this.#layout.tagsDir(repository);
    let names = (await this.#io.list(dir)).filter(isTag).sort(compareBytewise);
    if (page.after !== undefined) {
      const after = page.after;
      names = names.filter((name) => compareBytewise(name, after) > 0);
    }
    const limit = page.limit ?? Number.POSITIVE_INFINITY;
    const tags: string[] = [];
    // A tag directory without a current link is a crashed write or a concurrent delete: skip it.
    for (let i = 0; i < names.length && tags.length < limit; i += PARALLEL) {
      const batch = names.slice(i, i + PARALLEL);
      const present = await Promise.all(
        batch.map((tag) => this.#io.exists(join(dir, tag, 'current', 'link'))),
      );
      batch.forEach((tag, j) => {
        if (present[j] && tags.length < limit) tags.push(tag);
      });
    }
    return tags;
  }

  // ---- referrers ----

  async putReferrer(repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> {
    const record: ReferrerDescriptor = {
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      size: descriptor.size,
      ...(descriptor.artifactType === undefined ? {} : { artifactType: descriptor.artifactType }),
      ...(descriptor.annotations === undefined ? {} : { annotations: { ...descriptor.annotations } }),
    };
    await this.#io.writeAtomic(
      this.#layout.referrer(repository, subject, descriptor.digest),
      JSON.stringify(record),
      { newDir: true },
    );
  }

  async deleteReferrer(repository: string, subject: string, digest: string): Promise<boolean> {
    const file = this.#layout.referrer(repository, subject, digest);
    if (!(await this.#io.unlink(file))) return false;
    await this.#io.prune(dirname(file), this.#layout.repository(repository));
    return true;
  }

  async listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]> {
    const dir = this.#layout.referrersOf(repository, subject);
    const names = (await this.#io.list(dir)).filter((name) => REFERRER_FILE.test(name));
    const records = await Promise.all(names.map((name) => this.#io.readText(join(dir, name))));
    const result: ReferrerDescriptor[] = [];
    for (const text of records) {
      if (text === null) continue;
      try {
        const parsed = JSON.parse(text) as ReferrerDescriptor;
        if (typeof parsed.digest === 'string' && typeof parsed.mediaType === 'string') result.push(parsed);
      } catch {
        // a foreign or damaged file is not a referrer
      }
    }
    return result;
  }

  // ---- repositories ----

  async listRepositories(page?: ListPage): Promise<string[]> {
    const names: string[] = [];
    await this.#walk(this.#layout.repositoriesDir, '', names);
    return pageOf(names, page);
  }

  async hasRepository(repository: string): Promise<boolean> {
    return this.#hasContent(this.#layout.repository(repository));
  }

  /** Collects repositories below `dir` (a repository may contain nested ones). */
  async #walk(dir: string, prefix: string, out: string[]): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await this.#io.fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const marked = entries.some(
      (entry) => entry.isDirectory() && (entry.name === '_layers' || entry.name === '_manifests'),
    );
    if (prefix !== '' && marked && (await this.#hasContent(dir))) out.push(prefix);
    for (const entry of entries) {
      // Symbolic links are not followed: the walk stays inside the root.
      if (!entry.isDirectory()) continue;
      const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      // The prefix is a valid name, so this is one exactly when the new component is.
      if (isRepositoryName(name)) await this.#walk(join(dir, entry.name), name, out);
    }
  }

  /** Whether a repository directory holds any blob link, manifest revision or tag. */
  async #hasContent(dir: string): Promise<boolean> {
    for (const links of [join(dir, '_layers'), join(dir, '_manifests', 'revisions')]) {
      for (const { path } of await this.#digestDirs(links)) {
        if (await this.#io.exists(join(path, 'link'))) return true;
      }
    }
    const tags = join(dir, '_manifests', 'tags');
    for (const tag of await this.#io.list(tags)) {
      if (isTag(tag) && (await this.#io.exists(join(tags, tag, 'current', 'link')))) return true;
    }
    return false;
  }
}
