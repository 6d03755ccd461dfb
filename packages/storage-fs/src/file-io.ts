import type { FileHandle } from 'node:fs/promises';

/**
 * I/O on an open file: exact reads, complete writes, streamed reads and copies with reused
 * buffers. Pure functions of a `FileHandle`; `Io` (io.ts) builds the store's operations on them.
 */

/** Reads and writes move at least this many bytes per system call (64 KiB is ~2× slower). */
export const IO_SIZE = 1 << 20;

/**
 * A large body being written is synced in the background every this many bytes, overlapping the
 * disk's work with receiving the rest (otherwise all of it waits for the final fdatasync).
 */
const SYNC_AHEAD = 16 * 1024 * 1024;

/** First read of a small file (links, records, hash states). */
const SMALL_READ = 8 * 1024;

/** Copy buffers kept for reuse (two per copy in flight). */
const BUFFERS_KEPT = 8;

export function noop(): void {}

/** Reads exactly `size` bytes at `position` into the start of `buffer`. */
export async function readInto(
  handle: FileHandle,
  buffer: Buffer,
  size: number,
  position: number,
): Promise<void> {
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(buffer, filled, size - filled, position + filled);
    if (bytesRead === 0) throw Object.assign(new Error('file is shorter than expected'), { code: 'EIO' });
    filled += bytesRead;
  }
}

/** Reads exactly `size` bytes at `position`; a file shorter than that is an error. */
export async function readExactly(handle: FileHandle, size: number, position: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  await readInto(handle, buffer, size, position);
  return buffer;
}

/** fdatasync as a promise (also when a replaced `datasync` throws instead of rejecting). */
export async function datasyncOf(handle: FileHandle): Promise<void> {
  await handle.datasync();
}

/** A stream with nothing in it. */
export async function* emptyStream(): AsyncGenerator<Uint8Array> {}

/** writev until every byte is written (a short write is retried and then reports its error). */
export async function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let remaining = buffers;
  let at = position;
  let total = 0;
  for (const b of remaining) total += b.byteLength;
  while (total > 0) {
    const { bytesWritten } = await handle.writev(remaining as NodeJS.ArrayBufferView[], at);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    at += bytesWritten;
    total -= bytesWritten;
    if (total > 0) remaining = skip(remaining, bytesWritten);
  }
}

/** The buffers after their first `count` bytes. */
function skip(buffers: Uint8Array[], count: number): Uint8Array[] {
  let left = count;
  const out: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (left >= buffer.byteLength) {
      left -= buffer.byteLength;
      continue;
    }
    out.push(left > 0 ? buffer.subarray(left) : buffer);
    left = 0;
  }
  return out;
}

/**
 * Streams `length` bytes of an open file from `start` in {@link IO_SIZE} reads, reading one
 * buffer ahead of the consumer; `signal` aborts it. The caller closes the file.
 */
export async function* readChunks(
  handle: FileHandle,
  start: number,
  length: number,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const end = start + length;
  let position = start;
  let inflight: Promise<Buffer> | undefined;
  const next = (): Promise<Buffer> | undefined => {
    if (position >= end) return undefined;
    const size = Math.min(IO_SIZE, end - position);
    const read = readExactly(handle, size, position);
    position += size;
    read.catch(noop);
    return read;
  };
  try {
    inflight = next();
    while (inflight) {
      const buffer = await inflight;
      signal?.throwIfAborted();
      inflight = next();
      yield buffer;
      signal?.throwIfAborted();
    }
  } finally {
    if (inflight) await inflight.catch(noop);
  }
}

/** {@link IO_SIZE} buffers reused across copies: no fresh memory to fault in per megabyte. */
export class BufferPool {
  readonly #buffers: Buffer[] = [];

  take(): Buffer {
    return this.#buffers.pop() ?? Buffer.allocUnsafeSlow(IO_SIZE);
  }

  give(buffer: Buffer): void {
    if (this.#buffers.length < BUFFERS_KEPT) this.#buffers.push(buffer);
  }
}

/**
 * Copies `length` bytes of `source` (from `start`) into `target` at `position`, with two pooled
 * buffers, the next read overlapping the current write.
 */
export async function copyRange(
  pool: BufferPool,
  from: { readonly source: FileHandle; readonly start: number; readonly length: number },
  to: { readonly target: FileHandle; readonly position: number },
  signal?: AbortSignal,
): Promise<void> {
  const { source, start, length } = from;
  const { target, position } = to;
  let current = pool.take();
  let spare = pool.take();
  try {
    let size = Math.min(IO_SIZE, length);
    await readInto(source, current, size, start);
    let done = 0;
    for (;;) {
      signal?.throwIfAborted();
      const next = Math.min(IO_SIZE, length - done - size);
      const [wrote, read] = await Promise.allSettled([
        writeAll(target, [current.subarray(0, size)], position + done),
        next > 0 ? readInto(source, spare, next, start + done + size) : undefined,
      ]);
      if (wrote.status === 'rejected') throw wrote.reason;
      if (read.status === 'rejected') throw read.reason;
      done += size;
      if (next === 0) break;
      [current, spare] = [spare, current];
      size = next;
    }
  } finally {
    pool.give(current);
    pool.give(spare);
  }
}

/** A whole (small) file from its start: one read when it fits {@link SMALL_READ}. */
export async function readWhole(handle: FileHandle): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(total === 0 ? SMALL_READ : IO_SIZE);
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, total);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (bytesRead < buffer.byteLength) break;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Options of {@link writeStreamTo}. */
export interface StreamWriteOptions {
  /** Sync what is written in the background as it grows. */
  readonly sync: boolean;
  /** Where in the file the stream starts (default 0). */
  readonly position?: number;
  readonly signal?: AbortSignal;
}

/**
 * Streams `source` into `handle` from `position`, coalescing chunks into writes of at least
 * {@link IO_SIZE} bytes. One write is in flight while the next batch is read, and the source is
 * not read further until that write completes (backpressure). With `sync`, what is written is
 * also synced in the background every {@link SYNC_AHEAD} bytes (the caller still syncs at the
 * end). Resolves the bytes written.
 */
export async function writeStreamTo(
  handle: FileHandle,
  source: AsyncIterable<Uint8Array>,
  options: StreamWriteOptions,
): Promise<number> {
  const { signal } = options;
  const position = options.position ?? 0;
  let pending: Promise<void> | undefined;
  let syncing: Promise<void> | undefined;
  let syncFailure: { readonly error: unknown } | undefined;
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let offset = position;
  let synced = position;
  const flush = async (): Promise<void> => {
    if (pending) await pending;
    // A failed fdatasync fails the write: the next one may succeed although data was lost.
    if (syncFailure) throw syncFailure.error;
    // Everything before `offset` is written: start flushing it to disk while more arrives, so
    // the caller's final fdatasync has little left to do.
    if (options.sync && !syncing && offset - synced >= SYNC_AHEAD) {
      synced = offset;
      syncing = datasyncOf(handle).then(
        () => {
          syncing = undefined;
        },
        (error: unknown) => {
          syncing = undefined;
          syncFailure = { error };
        },
      );
    }
    const buffers = batch;
    const at = offset;
    offset += batchBytes;
    batch = [];
    batchBytes = 0;
    pending = writeAll(handle, buffers, at);
    // Observed when awaited; until then a failure must not count as unhandled.
    pending.catch(noop);
  };
  try {
    signal?.throwIfAborted();
    for await (const chunk of source) {
      signal?.throwIfAborted();
      if (chunk.byteLength === 0) continue;
      batch.push(chunk);
      batchBytes += chunk.byteLength;
      if (batchBytes >= IO_SIZE) await flush();
    }
    signal?.throwIfAborted();
    if (batchBytes > 0) await flush();
    if (pending) await pending;
    if (syncing) await syncing;
    if (syncFailure) throw syncFailure.error;
  } catch (error) {
    if (pending) await pending.catch(noop);
    if (syncing) await syncing;
    throw error;
  }
  return offset - position;
}
