import { type Clock, systemClock } from '../../clock.js';
import { throwIfAborted } from '../../util/bytes.js';
import type { BlobDeleteOptions, BlobInfo, BlobOpenOptions, BlobPutOptions, BlobStore } from '../types.js';

interface StoredBlob {
  readonly data: Buffer;
  readonly modifiedAt: Date;
}

/** Slices handed out by {@link MemoryBlobStore.open}, so a consumer sees several chunks. */
const READ_SLICE = 256 * 1024;

/** A {@link BlobStore} in process memory: for tests, and for the in-process registry. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>();
  readonly #clock: Clock;

  constructor(options: { readonly clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async stat(digest: string): Promise<BlobInfo | null> {
    const blob = this.#blobs.get(digest);
    return blob ? { digest, size: blob.data.byteLength, modifiedAt: blob.modifiedAt } : null;
  }

  async open(digest: string, options: BlobOpenOptions = {}): Promise<AsyncIterable<Uint8Array> | null> {
    const blob = this.#blobs.get(digest);
    if (!blob) return null;
    const start = options.range?.offset ?? 0;
    const end = options.range ? start + options.range.length : blob.data.byteLength;
    const { signal } = options;
    return (async function* () {
      for (let offset = start; offset < end; offset += READ_SLICE) {
        throwIfAborted(signal);
        yield blob.data.subarray(offset, Math.min(offset + READ_SLICE, end));
      }
    })();
  }

  async put(digest: string, source: AsyncIterable<Uint8Array>, options: BlobPutOptions = {}): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of source) {
      throwIfAborted(options.signal);
      // Copy: the caller may reuse its buffers.
      chunks.push(Buffer.from(chunk));
    }
    this.#blobs.set(digest, { data: Buffer.concat(chunks), modifiedAt: new Date(this.#clock.now()) });
  }

  async delete(digest: string, options: BlobDeleteOptions = {}): Promise<boolean> {
    const blob = this.#blobs.get(digest);
    if (!blob) return false;
    if (options.unmodifiedSince && blob.modifiedAt > options.unmodifiedSince) return false;
    return this.#blobs.delete(digest);
  }

  async touch(digest: string): Promise<boolean> {
    const blob = this.#blobs.get(digest);
    if (!blob) return false;
    this.#blobs.set(digest, { data: blob.data, modifiedAt: new Date(this.#clock.now()) });
    return true;
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const [digest, blob] of [...this.#blobs]) {
      yield { digest, size: blob.data.byteLength, modifiedAt: blob.modifiedAt };
    }
  }
}
