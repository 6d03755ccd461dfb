import {
  type BlobLink,
  type ConditionalDelete,
  collectBytes,
  FreshReads,
  type ListPage,
  type ManifestRecord,
  type MetadataStore,
  pageOf,
  type ReferrerDescriptor,
} from '@wharf/core';
import type { FactCache } from './cache/facts.js';
import { TagCache } from './cache/tags.js';
import { digestOfRelative, type Keys } from './keys.js';
import type { ObjectStore } from './objects/types.js';
import { mapLimit } from './util.js';
import { listAll, listPrefixes } from './writer.js';

/** User metadata key holding a manifest revision's media type (`x-amz-meta-media-type`). */
const MEDIA_TYPE = 'media-type';
/**
 * User metadata key repeating a tag's digest on its `current` link (`x-amz-meta-digest`), so that
 * a tag resolves with a HEAD, which is cheaper than a GET on every server (and much faster on
 * some: a small response body may wait for a delayed acknowledgement).
 */
const DIGEST = 'digest';

/** Settings of {@link S3MetadataStore}. */
export interface S3MetadataSettings {
  /** Links and revisions known in this process (see `cache/facts.ts`). */
  readonly facts: FactCache;
  /** Milliseconds a tag read here may be answered again without asking the bucket; 0: never. */
  readonly tagCacheTtl: number;
}

/**
 * {@link MetadataStore} on distribution-compatible link objects: each link holds the digest it
 * points at, so every write is one atomic PutObject. Links and revisions are cached; their
 * deletions are announced (see `cache/notices.ts`). Tags are read from the bucket every time,
 * unless `tagCacheTtl` allows answers that old.
 */
export class S3MetadataStore implements MetadataStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #facts: FactCache;
  readonly #tags: TagCache | undefined;
  /** Concurrent reads of one tag share a bucket request that started after they asked. */
  readonly #tagReads = new FreshReads<string | null>();

  constructor(store: ObjectStore, keys: Keys, settings: S3MetadataSettings) {
    this.#store = store;
    this.#keys = keys;
    this.#facts = settings.facts;
    this.#tags = settings.tagCacheTtl > 0 ? new TagCache(settings.tagCacheTtl) : undefined;
  }

  async #putLink(key: string, digest: string, metadata?: Record<string, string>): Promise<void> {
    await this.#store.put(key, Buffer.from(digest), metadata ? { metadata } : {});
  }

  async #readText(key: string): Promise<string | null> {
    const body = await this.#store.get(key);
    return body ? (await collectBytes(body)).toString('utf8') : null;
  }

  /**
   * Deletes a key; resolves whether it was removed. With `unmodifiedSince`, a HEAD decides first
   * (S3 has no conditional delete: a rewrite within that round trip is not seen).
   */
  async #remove(key: string, options: ConditionalDelete = {}): Promise<boolean> {
    const head = await this.#store.head(key);
    if (!head) return false;
    if (options.unmodifiedSince && head.lastModified > options.unmodifiedSince) return false;
    await this.#store.delete([key]);
    return true;
  }

  async linkBlob(repository: string, digest: string): Promise<void> {
    const ticket = this.#facts.ticket();
    await this.#putLink(this.#keys.layerLink(repository, digest), digest);
    this.#facts.set(ticket, 'link', `${repository}\u0000${digest}`, true);
  }

  async hasBlobLink(repository: string, digest: string): Promise<boolean> {
    const fact = `${repository}\u0000${digest}`;
    if (this.#facts.get('link', fact)) return true;
    const ticket = this.#facts.ticket();
    const found = (await this.#store.head(this.#keys.layerLink(repository, digest))) !== null;
    if (found) this.#facts.set(ticket, 'link', fact, true);
    return found;
  }

  unlinkBlob(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean> {
    return this.#facts.deleting(() => {
      this.#facts.delete('link', `${repository}\u0000${digest}`);
      return this.#remove(this.#keys.layerLink(repository, digest), options);
    });
  }

  /** The `<digest>/link` objects under `prefix`, dated by their last write. */
  async *#links(prefix: string): AsyncGenerator<BlobLink> {
    for await (const object of listAll(this.#store, prefix)) {
      const digest = digestOfRelative(object.key.slice(prefix.length), '/link');
      if (digest) yield { digest, createdAt: object.lastModified };
    }
  }

  async *listBlobLinks(repository: string): AsyncIterable<BlobLink> {
    yield* this.#links(this.#keys.layers(repository));
  }

  /**
   * Rewriting a revision with another media type changes a cached fact, so it is announced like a
   * deletion; with caching on, that costs a HEAD first.
   */
  async putManifest(repository: string, record: { digest: string; mediaType: string }): Promise<void> {
    const key = this.#keys.revisionLink(repository, record.digest);
    const fact = `${repository}\u0000${record.digest}`;
    const write = () => this.#putLink(key, record.digest, { [MEDIA_TYPE]: record.mediaType });
    const ticket = this.#facts.ticket();
    if (ticket === undefined) return write();
    const cached = this.#facts.get('revision', fact);
    const previous = cached ? cached.mediaType : (await this.#store.head(key))?.metadata[MEDIA_TYPE];
    if (previous !== undefined && previous !== record.mediaType) {
      await this.#facts.deleting(() => {
        this.#facts.delete('revision', fact);
        return write();
      });
      return;
    }
    await write();
    this.#facts.set(ticket, 'revision', fact, { mediaType: record.mediaType });
  }

  /** Without the revision's age when answered from the cache (only garbage collection needs it, from listings). */
  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const fact = `${repository}\u0000${digest}`;
    const cached = this.#facts.get('revision', fact);
    if (cached) return { digest, ...(cached.mediaType ? { mediaType: cached.mediaType } : {}) };
    const ticket = this.#facts.ticket();
    const head = await this.#store.head(this.#keys.revisionLink(repository, digest));
    if (!head) return null;
    const mediaType = head.metadata[MEDIA_TYPE];
    this.#facts.set(ticket, 'revision', fact, { mediaType });
    return { digest, createdAt: head.lastModified, ...(mediaType ? { mediaType } : {}) };
  }

  deleteManifest(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean> {
    return this.#facts.deleting(() => {
      this.#facts.delete('revision', `${repository}\u0000${digest}`);
      return this.#remove(this.#keys.revisionLink(repository, digest), options);
    });
  }

  /** Lists revisions without their media types (one HEAD each would be needed; core sniffs). */
  async *listManifests(repository: string): AsyncIterable<ManifestRecord> {
    yield* this.#links(this.#keys.revisions(repository));
  }

  /** The index link first, then `current`, as distribution does. */
  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    this.#tags?.delete(repository, tag);
    await this.#putLink(this.#keys.tagIndex(repository, tag, digest), digest);
    await this.#putLink(this.#keys.tagCurrent(repository, tag), digest, { [DIGEST]: digest });
  }

  /**
   * A HEAD, shared with concurrent readers of the tag that asked before it started; the link's body
   * is read only when it lacks the digest metadata (written elsewhere).
   */
  async getTag(repository: string, tag: string): Promise<string | null> {
    const cached = this.#tags?.get(repository, tag);
    if (cached !== undefined) return cached;
    const key = this.#keys.tagCurrent(repository, tag);
    return this.#tagReads.read(key, async () => {
      const head = await this.#store.head(key);
      const digest = head ? (head.metadata[DIGEST] ?? (await this.#readText(key))) : null;
      this.#tags?.set(repository, tag, digest);
      return digest;
    });
  }

  /** Removes the index links first and `current` last, so a crash midway leaves the tag valid. */
  async deleteTag(repository: string, tag: string): Promise<boolean> {
    this.#tags?.delete(repository, tag);
    const current = this.#keys.tagCurrent(repository, tag);
    if (!(await this.#store.head(current))) return false;
    const rest: string[] = [];
    for await (const object of listAll(this.#store, this.#keys.tag(repository, tag)))
      if (object.key !== current) rest.push(object.key);
    if (rest.length > 0) await this.#store.delete(rest);
    await this.#store.delete([current]);
    return true;
  }

  async listTags(repository: string, page?: ListPage): Promise<string[]> {
    const prefix = this.#keys.tags(repository);
    const names = (await listPrefixes(this.#store, prefix)).map((p) => p.slice(prefix.length, -1));
    return pageOf(names, page);
  }

  async putReferrer(repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> {
    await this.#store.put(
      this.#keys.referrer(repository, subject, descriptor.digest),
      Buffer.from(JSON.stringify(descriptor)),
    );
  }

  deleteReferrer(repository: string, subject: string, digest: string): Promise<boolean> {
    return this.#remove(this.#keys.referrer(repository, subject, digest));
  }

  async listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]> {
    const keys: string[] = [];
    for await (const object of listAll(this.#store, this.#keys.referrers(repository, subject)))
      keys.push(object.key);
    const found = await mapLimit(keys, 8, async (key) => {
      const text = await this.#readText(key);
      return text === null ? null : (JSON.parse(text) as ReferrerDescriptor);
    });
    return found.filter((d): d is ReferrerDescriptor => d !== null);
  }

  /**
   * Walks `repositories/` one directory level at a time (a repository is a directory holding
   * `_layers/` or `_manifests/`; name components never start with `_`), so the cost grows with
   * the number of repositories, not with the number of links.
   */
  async listRepositories(page?: ListPage): Promise<string[]> {
    const root = this.#keys.repositories;
    const found: string[] = [];
    let level: string[] = [''];
    while (level.length > 0) {
      const children = await mapLimit(level, 8, async (name) => {
        const dir = name ? `${root}${name}/` : root;
        const entries = (await listPrefixes(this.#store, dir)).map((p) => p.slice(dir.length, -1));
        if (name && entries.some((e) => e === '_layers' || e === '_manifests')) found.push(name);
        return entries.filter((e) => !e.startsWith('_')).map((e) => (name ? `${name}/${e}` : e));
      });
      level = children.flat();
    }
    return pageOf(found, page);
  }

  async hasRepository(repository: string): Promise<boolean> {
    const prefix = `${this.#keys.repository(repository)}_`;
    const page = await this.#store.list(prefix, { maxKeys: 1 });
    const first = page.objects[0]?.key.slice(prefix.length - 1);
    return first !== undefined && (first.startsWith('_layers/') || first.startsWith('_manifests/'));
  }
}
