import type {
  CompletedPart,
  ListedMultipart,
  ListedObject,
  MultipartRef,
  ObjectStore,
} from './objects/types.js';
import { type KeyedLock, mapLimit, quietly, throwIfAborted } from './util.js';

/** The smallest part S3 accepts in a multipart upload (except the last one). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** The largest part (and UploadPartCopy range) S3 accepts. */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

/**
 * Part buffers for reuse: writes allocate and drop buffers of several MiB at a high rate, which
 * the allocator does not always hand back to the system; reusing them keeps memory flat.
 */
export class BufferPool {
  readonly size: number;
  readonly #idle: Buffer[] = [];
  readonly #keep: number;

  constructor(size: number, keep = 4) {
    this.size = size;
    this.#keep = keep;
  }

  acquire(): Buffer {
    return this.#idle.pop() ?? Buffer.allocUnsafe(this.size);
  }

  release(buffer: Buffer | undefined): void {
    if (buffer && buffer.byteLength === this.size && this.#idle.length < this.#keep) this.#idle.push(buffer);
  }
}

/** Options of {@link writeObject}. */
export interface WriteOptions {
  /** Where part buffers come from; their size is the part size. */
  readonly buffers: BufferPool;
  /**
   * Parts uploading while the next one fills (default 1). A write holds this many buffers plus
   * the one filling.
   */
  readonly partsInFlight?: number;
  /** Serializes the completion of multipart uploads per key (see {@link KeyedLock}). */
  readonly completions?: KeyedLock;
  readonly signal?: AbortSignal;
}

/**
 * Streams `source` into `key`: a single PutObject when it fits in one part, otherwise a multipart
 * upload whose parts go out as they fill (up to `partsInFlight` uploading while the next fills).
 * The object becomes visible only when `source` ends without throwing; on any error nothing is
 * left behind (the multipart upload is aborted) and the error is rethrown as is. Resolves the byte
 * count.
 */
export async function writeObject(
  store: ObjectStore,
  key: string,
  source: AsyncIterable<Uint8Array>,
  options: WriteOptions,
): Promise<number> {
  const { buffers, signal, completions } = options;
  const partSize = buffers.size;
  const maxInFlight = Math.max(1, options.partsInFlight ?? 1);
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  let fill: Buffer | undefined;
  let filled = 0;
  let total = 0;
  /** Parts being uploaded, with their buffers. */
  const inflight = new Set<{ readonly done: Promise<void>; readonly buffer: Buffer }>();
  /** Buffers whose upload has finished. */
  const spare: Buffer[] = [];
  let failure: { error: unknown } | undefined;

  const settle = async (): Promise<void> => {
    await Promise.all([...inflight].map((entry) => entry.done));
    if (failure) throw failure.error;
  };

  const flush = async (): Promise<void> => {
    uploadId ??= await store.createMultipart(key, signal);
    // Wait for a slot; a failed part fails the write.
    while (inflight.size >= maxInFlight) await Promise.race([...inflight].map((entry) => entry.done));
    if (failure) throw failure.error;
    const buffer = fill!;
    const body = buffer.subarray(0, filled);
    const partNumber = parts.length + 1;
    const id = uploadId;
    parts.push({ partNumber, etag: '' });
    const entry = {
      buffer,
      done: store.uploadPart(key, id, partNumber, body, signal).then(
        (etag) => {
          parts[partNumber - 1] = { partNumber, etag };
        },
        (error: unknown) => {
          failure ??= { error };
        },
      ),
    };
    inflight.add(entry);
    void entry.done.then(() => {
      inflight.delete(entry);
      spare.push(buffer);
    });
    fill = undefined;
    filled = 0;
  };

  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      let position = 0;
      while (position < chunk.byteLength) {
        if (filled === partSize) await flush();
        fill ??= spare.pop() ?? buffers.acquire();
        const n = Math.min(partSize - filled, chunk.byteLength - position);
        fill.set(chunk.subarray(position, position + n), filled);
        filled += n;
        position += n;
        total += n;
      }
    }
    throwIfAborted(signal);
    if (uploadId === undefined) {
      await store.put(key, fill ? fill.subarray(0, filled) : Buffer.alloc(0), signal ? { signal } : {});
      return total;
    }
    if (filled > 0) await flush();
    await settle();
    const id = uploadId;
    const complete = () => store.completeMultipart(key, id, parts, signal);
    await (completions ? completions.run(key, complete) : complete());
    return total;
  } catch (error) {
    await Promise.all([...inflight].map((entry) => entry.done));
    const id = uploadId;
    if (id !== undefined) await quietly(() => store.abortMultipart(key, id));
    throw error;
  } finally {
    // Every request that used them has settled by now.
    buffers.release(fill);
    for (const buffer of spare) buffers.release(buffer);
  }
}

/** Every object under `prefix` (all pages). */
export async function* listAll(
  store: ObjectStore,
  prefix: string,
  startAfter?: string,
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await store.list(prefix, {
      ...(token ? { token } : startAfter ? { startAfter } : {}),
    });
    yield* page.objects;
    token = page.next;
  } while (token);
}

/** Every common prefix directly under `prefix` (all pages), delimiter `/`. */
export async function listPrefixes(store: ObjectStore, prefix: string): Promise<string[]> {
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list(prefix, { delimiter: '/', ...(token ? { token } : {}) });
    prefixes.push(...page.prefixes);
    token = page.next;
  } while (token);
  return prefixes;
}

/** Every in-progress multipart upload under `prefix`. */
export async function listAllMultipart(store: ObjectStore, prefix: string): Promise<ListedMultipart[]> {
  const uploads: ListedMultipart[] = [];
  let marker: MultipartRef | undefined;
  do {
    const page = await store.listMultipart(prefix, marker);
    uploads.push(...page.uploads);
    marker = page.next;
  } while (marker);
  return uploads;
}

/** Aborts every multipart upload and deletes every object under `prefix`. */
export async function purge(store: ObjectStore, prefix: string): Promise<void> {
  // Multipart uploads first: one completed meanwhile is then found by the object listing.
  const uploads = await listAllMultipart(store, prefix);
  await mapLimit(uploads, 8, (u) => store.abortMultipart(u.key, u.uploadId));
  const keys: string[] = [];
  for await (const object of listAll(store, prefix)) keys.push(object.key);
  if (keys.length > 0) await store.delete(keys);
}
