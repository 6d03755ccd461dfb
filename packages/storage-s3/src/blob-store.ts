import type { BlobDeleteOptions, BlobInfo, BlobOpenOptions, BlobPutOptions, BlobStore } from '@wharf/core';
import type { FactCache } from './cache/facts.js';
import type { Keys } from './keys.js';
import type { ObjectStore } from './objects/types.js';
import { type RangedReadSettings, readRanges } from './ranged-read.js';
import { blobBody, type KeyedLock, quietly } from './util.js';
import { type BufferPool, listAll, writeObject } from './writer.js';

/** Large blobs whose size {@link S3BlobStore} remembers to split their reads. */
const READ_SIZES = 1024;

/** Settings the blob store shares with the other stores. */
export interface S3BlobSettings {
  readonly buffers: BufferPool;
  /** Parts uploading at once while a large blob streams in. */
  readonly partsInFlight: number;
  /** Shared with the upload store: completions of multipart uploads, one at a time per key. */
  readonly completions: KeyedLock;
  /** Presigned-URL lifetime in seconds to use instead of core's, or `undefined`; `false`: no redirects. */
  readonly redirect: false | { readonly expiresIn: number | undefined };
  /** Blob sizes known in this process (see `cache/facts.ts`). */
  readonly facts: FactCache;
  /** Reads longer than `threshold` bytes go as parallel ranged GETs (see `ranged-read.ts`). */
  readonly reads: RangedReadSettings & { readonly threshold: number };
}

/**
 * {@link BlobStore} on `blobs/<alg>/<ab>/<hex>/data` objects. {@link touch} writes an empty
 * `touched` object next to `data` (rewriting a large blob to refresh its date would copy it), and
 * a blob's `modifiedAt` is the later of the two. Sizes are cached; deletions are announced (see
 * `cache/notices.ts`).
 */
export class S3BlobStore implements BlobStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #settings: S3BlobSettings;
  /**
   * Sizes of blobs stat()ed lately, only to split reads of them (core stat()s a blob before it
   * opens it). A digest fixes the bytes, hence the size: unlike the cache's facts this cannot go
   * wrong across replicas, a deleted blob's read just finds no object.
   */
  readonly #readSizes = new Map<string, number>();

  constructor(store: ObjectStore, keys: Keys, settings: S3BlobSettings) {
    this.#store = store;
    this.#keys = keys;
    this.#settings = settings;
  }

  async stat(digest: string): Promise<BlobInfo | null> {
    // Size only: the age costs another request and only garbage collection needs it (from list()
    // and the conditional delete).
    const { facts } = this.#settings;
    const size = facts.get('blob', digest);
    if (size !== undefined) return this.#sized(digest, size);
    const ticket = facts.ticket();
    const head = await this.#store.head(this.#keys.blob(digest));
    if (!head) return null;
    facts.set(ticket, 'blob', digest, head.size);
    return this.#sized(digest, head.size);
  }

  #sized(digest: string, size: number): BlobInfo {
    if (size > this.#settings.reads.threshold) {
      this.#readSizes.delete(digest);
      this.#readSizes.set(digest, size);
      if (this.#readSizes.size > READ_SIZES) this.#readSizes.delete(this.#readSizes.keys().next().value!);
    }
    return { digest, size };
  }

  /** Size and age: the later of `data` and `touched`. */
  async #statWithAge(digest: string): Promise<Required<BlobInfo> | null> {
    const [head, touched] = await Promise.all([
      this.#store.head(this.#keys.blob(digest)),
      this.#store.head(this.#keys.blobTouched(digest)),
    ]);
    if (!head) return null;
    const modifiedAt =
      touched && touched.lastModified > head.lastModified ? touched.lastModified : head.lastModified;
    return { digest, size: head.size, modifiedAt };
  }

  async open(digest: string, options: BlobOpenOptions = {}): Promise<AsyncIterable<Uint8Array> | null> {
    const key = this.#keys.blob(digest);
    const { range, signal } = options;
    if (range && range.length === 0) {
      return (await this.#store.head(key)) ? (async function* () {})() : null;
    }
    const size = range ? undefined : this.#readSizes.get(digest);
    const window = range ?? (size === undefined ? undefined : { offset: 0, length: size });
    const { reads } = this.#settings;
    if (window && window.length > reads.threshold) return readRanges(this.#store, key, window, reads, signal);
    const body = await this.#store.get(key, range, signal);
    return body ? blobBody(body, signal) : null;
  }

  /**
   * Small blobs (up to one part) are buffered and written with one PutObject once the source has
   * ended; larger ones go to a multipart upload on the blob key, completed only when the source
   * ends without error and aborted otherwise. Either way the blob appears whole or not at all.
   */
  async put(digest: string, source: AsyncIterable<Uint8Array>, options: BlobPutOptions = {}): Promise<void> {
    const { buffers, partsInFlight, completions, facts } = this.#settings;
    const ticket = facts.ticket();
    const size = await writeObject(this.#store, this.#keys.blob(digest), source, {
      buffers,
      partsInFlight,
      completions,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    facts.set(ticket, 'blob', digest, size);
  }

  /**
   * With `unmodifiedSince`, a HEAD decides and a DeleteObjects follows: S3 has no conditional
   * delete, so a touch landing between the two is lost (the window is one round trip).
   */
  delete(digest: string, options: BlobDeleteOptions = {}): Promise<boolean> {
    const { facts } = this.#settings;
    return facts.deleting(async () => {
      facts.delete('blob', digest);
      this.#readSizes.delete(digest);
      const info = await this.#statWithAge(digest);
      if (!info) return false;
      const { unmodifiedSince } = options;
      if (unmodifiedSince && info.modifiedAt > unmodifiedSince) return false;
      await this.#store.delete([this.#keys.blob(digest), this.#keys.blobTouched(digest)]);
      return true;
    });
  }

  /**
   * Writes `touched` while checking that the blob exists, in parallel; a `touched` written for a
   * missing blob is taken back.
   */
  async touch(digest: string): Promise<boolean> {
    const { facts } = this.#settings;
    const touched = this.#keys.blobTouched(digest);
    const ticket = facts.ticket();
    const [exists] = await Promise.all([
      this.#store.head(this.#keys.blob(digest)),
      this.#store.put(touched, new Uint8Array(0)),
    ]);
    if (!exists) await quietly(() => this.#store.delete([touched]));
    else facts.set(ticket, 'blob', digest, exists.size);
    return exists !== null;
  }

  async *list(): AsyncIterable<BlobInfo> {
    // `<hex>/data` and `<hex>/touched` come next to each other in a listing.
    let pending: BlobInfo | undefined;
    for await (const object of listAll(this.#store, this.#keys.blobs)) {
      const digest = this.#keys.digestOfBlobKey(object.key);
      if (digest) {
        if (pending) yield pending;
        pending = { digest, size: object.size, modifiedAt: object.lastModified };
      } else if (pending && object.key === this.#keys.blobTouched(pending.digest)) {
        if (object.lastModified > pending.modifiedAt!)
          pending = { ...pending, modifiedAt: object.lastModified };
      }
    }
    if (pending) yield pending;
  }

  /** A presigned GET URL when redirects are enabled, else `null` (core then serves the bytes). */
  async url(digest: string, options: { readonly expiresIn: number }): Promise<string | null> {
    const { redirect } = this.#settings;
    if (!redirect) return null;
    return this.#store.presignGet(this.#keys.blob(digest), redirect.expiresIn ?? options.expiresIn);
  }
}
