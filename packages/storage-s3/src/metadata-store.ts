import {
  type BlobLink,
  type ConditionalDelete,
  collectBytes,
  type ListPage,
  type ManifestRecord,
  type MetadataStore,
  pageOf,
  type ReferrerDescriptor,
} from '@wharf/core';
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

/**
 * {@link MetadataStore} on distribution-compatible link objects: each link holds the digest it
 * points at, so every write is one atomic PutObject.
 */
export class S3MetadataStore implements MetadataStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;

  constructor(store: ObjectStore, keys: Keys) {
    this.#store = store;
    this.#keys = keys;
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

  linkBlob(repository: string, digest: string): Promise<void> {
    return this.#putLink(this.#keys.layerLink(repository, digest), digest);
  }

  async hasBlobLink(repository: string, digest: string): Promise<boolean> {
    return (await this.#store.head(this.#keys.layerLink(repository, digest))) !== null;
  }

  unlinkBlob(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean> {
    return this.#remove(this.#keys.layerLink(repository, digest), options);
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

  putManifest(repository: string, record: { digest: string; mediaType: string }): Promise<void> {
    return this.#putLink(this.#keys.revisionLink(repository, record.digest), record.digest, {
      [MEDIA_TYPE]: record.mediaType,
    });
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const head = await this.#store.head(this.#keys.revisionLink(repository, digest));
    if (!head) return null;
    const mediaType = head.metadata[MEDIA_TYPE];
    return { digest, createdAt: head.lastModified, ...(mediaType ? { mediaType } : {}) };
  }

  deleteManifest(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean> {
    return this.#remove(this.#keys.revisionLink(repository, digest), options);
  }

  /** Lists revisions without their media types (one HEAD each would be needed; core sniffs). */
  async *listManifests(repository: string): AsyncIterable<ManifestRecord> {
    yield* this.#links(this.#keys.revisions(repository));
  }

  /** The index link first, then `current`, as distribution does. */
  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    await this.#putLink(this.#keys.tagIndex(repository, tag, digest), digest);
    await this.#putLink(this.#keys.tagCurrent(repository, tag), digest, { [DIGEST]: digest });
  }

  /** A HEAD; the link's body is read only when it lacks the digest metadata (written elsewhere). */
  async getTag(repository: string, tag: string): Promise<string | null> {
    const key = this.#keys.tagCurrent(repository, tag);
    const head = await this.#store.head(key);
    if (!head) return null;
    return head.metadata[DIGEST] ?? (await this.#readText(key));
  }

  /** Removes the index links first and `current` last, so a crash midway leaves the tag valid. */
  async deleteTag(repository: string, tag: string): Promise<boolean> {
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
