import type { CompletedPart, ListedObject, MultipartRef, ObjectStore } from './objects/types.js';
import { mapLimit, quietly, throwIfAborted } from './util.js';

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
  /** Where part buffers come from; their size is the part size. A write holds two at most. */
  readonly buffers: BufferPool;
  readonly signal?: AbortSignal;
}

/**
 * Streams `source` into `key`: a single PutObject when it fits in one part, otherwise a multipart
 * upload whose parts go out as they fill (one part uploading while the next fills). The object
 * becomes visible only when `source` ends without throwing; on any error nothing is left behind
 * (the multipart upload is aborted) and the error is rethrown as is. Resolves the byte count.
 */
export async function writeObject(
  store: ObjectStore,
  key: string,
  source: AsyncIterable<Uint8Array>,
  options: WriteOptions,
): Promise<number> {
  const { buffers, signal } = options;
  const partSize = buffers.size;
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  let fill: Buffer | undefined;
  let standby: Buffer | undefined;
  let filled = 0;
  let total = 0;
  let inflight: Promise<void> | undefined;

  const flush = async (): Promise<void> => {
    uploadId ??= await store.createMultipart(key, signal);
    // At most one part in flight: wait for it, then reuse its buffer for the next fill.
    if (inflight) await inflight;
    const buffer = fill!;
    const body = buffer.subarray(0, filled);
    const partNumber = parts.length + 1;
    const id = uploadId;
    parts.push({ partNumber, etag: '' });
    inflight = store.uploadPart(key, id, partNumber, body, signal).then((etag) => {
      parts[partNumber - 1] = { partNumber, etag };
    });
    // Surfaced at the next await of `inflight`; do not report it as unhandled meanwhile.
    inflight.catch(() => {});
    fill = standby;
    standby = buffer;
    filled = 0;
  };

  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      let position = 0;
      while (position < chunk.byteLength) {
        if (filled === partSize) await flush();
        fill ??= buffers.acquire();
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
    await inflight;
    await store.completeMultipart(key, uploadId, parts, signal);
    return total;
  } catch (error) {
    if (inflight) await inflight.catch(() => {});
    const id = uploadId;
    if (id !== undefined) await quietly(() => store.abortMultipart(key, id));
    throw error;
  } finally {
    // Every request that used them has settled by now.
    buffers.release(fill);
    buffers.release(standby);
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
export async function listAllMultipart(store: ObjectStore, prefix: string): Promise<MultipartRef[]> {
  const uploads: MultipartRef[] = [];
  let marker: MultipartRef | undefined;
  do {
    const page = await store.listMultipart(prefix, marker);
    uploads.push(...page.uploads);
    marker = page.next;
  } while (marker);
  return uploads;
}

/** Aborts every multipart upload and deletes every object under `prefix` except `keep`. */
export async function purge(
  store: ObjectStore,
  prefix: string,
  keep: ReadonlySet<string> = new Set(),
): Promise<void> {
  const uploads = await listAllMultipart(store, prefix);
  await mapLimit(uploads, 8, (u) => store.abortMultipart(u.key, u.uploadId));
  const keys: string[] = [];
  for await (const object of listAll(store, prefix)) if (!keep.has(object.key)) keys.push(object.key);
  if (keys.length > 0) await store.delete(keys);
}
