import { collectBytes } from '@wharf/core';
import type { ObjectHead, ObjectStore } from '../objects/types.js';
import { type KeyedLock, mapLimit, quietly, throwIfAborted } from '../util.js';
import { MAX_PART_SIZE } from '../writer.js';
import { type Segment, token } from './records.js';

/** Settings of {@link Composer}. */
export interface ComposerSettings {
  readonly minPartSize: number;
  readonly maxParts: number;
  readonly concurrency: number;
  /** Shared with the blob store: completions of multipart uploads, one at a time per key. */
  readonly completions: KeyedLock;
}

/** One part of a server-side concatenation. */
type Piece =
  | { readonly kind: 'copy'; readonly key: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'data'; readonly keys: readonly string[]; readonly length: number };

/** Copy ranges of at most `MAX_PART_SIZE` covering a whole object (each at least half of it). */
function copyPieces(key: string, size: number): Piece[] {
  const count = Math.max(1, Math.ceil(size / MAX_PART_SIZE));
  const pieces: Piece[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = Math.floor(size / count) + (i < size % count ? 1 : 0);
    pieces.push({ kind: 'copy', key, offset, length });
    offset += length;
  }
  return pieces;
}

/** What to compose: a blob from the staged segments of one session directory. */
export interface Composition {
  /** The session directory the segments' keys are relative to. */
  readonly dir: string;
  readonly segments: readonly Segment[];
  readonly size: number;
  /** The blob's key, and the `touched` object that refreshes its date. */
  readonly blobKey: string;
  readonly touchedKey: string;
  /** The blob as the caller last saw it (`null`: missing). */
  readonly blob: ObjectHead | null;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Turns staged segments into a blob on the server: `CopyObject` for one segment, otherwise a
 * multipart upload of `UploadPartCopy` ranges with the trailing run of small segments uploaded as
 * the last part. Commits of one digest in this process compose it once.
 */
export class Composer {
  readonly #store: ObjectStore;
  readonly #settings: ComposerSettings;
  /**
   * Blobs being composed by a commit in this process, by blob key: a concurrent commit of the same
   * content waits for it instead of copying the same bytes again.
   */
  readonly #composing = new Map<string, Promise<void>>();

  constructor(store: ObjectStore, settings: ComposerSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  /**
   * Makes the blob exist with the staged bytes: composes it, or waits for a commit of the same
   * content that is composing it in this process, or (when it already exists) refreshes its date,
   * as a rewrite would, for garbage collection.
   */
  async materialize(job: Composition): Promise<void> {
    const { blobKey, size, signal } = job;
    let head = job.blob;
    let fresh = false;
    for (;;) {
      if (head?.size === size) {
        if (!fresh) await this.#store.put(job.touchedKey, new Uint8Array(0));
        return;
      }
      const running = this.#composing.get(blobKey);
      if (!running) break;
      // Written by that commit just now, or else composed here after all.
      fresh = await running.then(
        () => true,
        () => false,
      );
      throwIfAborted(signal);
      head = await this.#store.head(blobKey);
    }
    const composing = this.#compose(job.dir, blobKey, job.segments, signal);
    this.#composing.set(blobKey, composing);
    try {
      await composing;
    } finally {
      if (this.#composing.get(blobKey) === composing) this.#composing.delete(blobKey);
    }
  }

  /**
   * Concatenates segments into `target` on the server. One segment is copied with CopyObject
   * (which some servers do without copying the bytes); several become a multipart upload with one
   * `UploadPartCopy` per segment (ranges over 5 GiB split), the trailing run of small segments
   * uploaded as the last part. More parts than the server allows are first combined into
   * intermediate objects the same way.
   */
  async #compose(
    dir: string,
    target: string,
    segments: readonly Segment[],
    signal?: AbortSignal,
  ): Promise<void> {
    const { minPartSize, maxParts, completions } = this.#settings;
    if (segments.length === 0) {
      await this.#store.put(target, Buffer.alloc(0), signal ? { signal } : {});
      return;
    }
    if (segments.length === 1 && segments[0]!.size <= MAX_PART_SIZE) {
      const source = `${dir}${segments[0]!.key}`;
      await completions.run(target, () => this.#store.copy(source, target, signal));
      return;
    }
    let pieces: Piece[] = [];
    let runStart = segments.length;
    while (runStart > 0 && segments[runStart - 1]!.size < minPartSize) runStart--;
    for (const segment of segments.slice(0, runStart))
      pieces.push(...copyPieces(`${dir}${segment.key}`, segment.size));
    const run = segments.slice(runStart);
    if (run.length === 1) pieces.push(...copyPieces(`${dir}${run[0]!.key}`, run[0]!.size));
    else if (run.length > 1) {
      pieces.push({
        kind: 'data',
        keys: run.map((s) => `${dir}${s.key}`),
        length: run.reduce((n, s) => n + s.size, 0),
      });
    }
    const intermediates: string[] = [];
    try {
      while (pieces.length > maxParts) {
        const next: Piece[] = [];
        for (let i = 0; i < pieces.length; i += maxParts) {
          const group = pieces.slice(i, i + maxParts);
          const key = `${dir}m/${token()}`;
          intermediates.push(key);
          await this.#multipart(key, group, signal);
          next.push(
            ...copyPieces(
              key,
              group.reduce((n, p) => n + p.length, 0),
            ),
          );
        }
        pieces = next;
      }
      await this.#multipart(target, pieces, signal);
    } finally {
      if (intermediates.length > 0) await quietly(() => this.#store.delete(intermediates));
    }
  }

  async #multipart(target: string, pieces: readonly Piece[], signal?: AbortSignal): Promise<void> {
    const store = this.#store;
    const uploadId = await store.createMultipart(target, signal);
    try {
      const etags = await mapLimit(pieces, this.#settings.concurrency, async (piece, index) => {
        throwIfAborted(signal);
        if (piece.kind === 'copy') {
          return store.copyPart(target, uploadId, index + 1, piece.key, piece, signal);
        }
        const parts: Buffer[] = [];
        for (const key of piece.keys) {
          const body = await store.get(key, undefined, signal);
          if (!body) throw new Error(`staged segment ${key} vanished`);
          parts.push(await collectBytes(body));
        }
        const data = Buffer.concat(parts);
        // The completed object is not read back: make sure this part has exactly its bytes.
        if (data.byteLength !== piece.length)
          throw new Error(`staged segments hold ${data.byteLength} bytes, not ${piece.length}`);
        return store.uploadPart(target, uploadId, index + 1, data, signal);
      });
      throwIfAborted(signal);
      const parts = etags.map((etag, index) => ({ partNumber: index + 1, etag }));
      await this.#settings.completions.run(target, () =>
        store.completeMultipart(target, uploadId, parts, signal),
      );
    } catch (error) {
      await quietly(() => store.abortMultipart(target, uploadId));
      throw error;
    }
  }
}
