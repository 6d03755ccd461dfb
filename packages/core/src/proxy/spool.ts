import { randomUUID } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { StagedBlob } from '../stores/types.js';

/** Largest slice a reader takes from the file at once. */
const READ_SIZE = 1024 * 1024;
/** The newest bytes kept in memory too, so that readers keeping up never touch the file. */
const RECENT_BYTES = 8 * 1024 * 1024;
/** Chunks are written to the file in batches of at least this size (one `writev`). */
const FLUSH_BYTES = 1024 * 1024;
/**
 * How far the file may fall behind the download while a write is running before the writer waits.
 * Well below `RECENT_BYTES`, so memory stays bounded (what is not on file yet is kept in memory).
 */
const LAG_BYTES = 4 * 1024 * 1024;
/** A staged blob is synced in the background every this many bytes (as `BlobStore.put` does). */
const SYNC_AHEAD = 16 * 1024 * 1024;

/** A window of the spooled bytes, and whether the last byte waits for the verdict. */
export interface SpoolReadOptions {
  readonly offset?: number;
  /** Bytes to read; default up to the end. */
  readonly length?: number;
  /**
   * Withholds the last byte written so far until {@link Spool.finish}: an HTTP client that
   * received every byte it was promised would take a blob as complete, so it must not see the
   * end before the digest is verified.
   */
  readonly holdBack?: boolean;
}

/** The file under a spool: its own temporary file, or a staged blob of the store. */
interface SpoolFile {
  readonly handle: FileHandle;
  /** Background flush to disk while writing (a staged blob's, so that its commit is quick). */
  readonly sync?: () => Promise<void>;
  /** Runs once the writer and every reader are done. */
  readonly close: () => Promise<void>;
}

/**
 * A file that a download is written into while any number of readers follow it at their own pace,
 * each from its own offset (docs/architecture.md, "Pull-through cache"). The download never waits
 * for a reader, and a reader that goes away affects nobody else. Readers end when the writer
 * {@link finish}es, and fail with the writer's error when it {@link fail}s. The file is closed
 * once the writer and every reader are done. It is either a temporary file of its own (removed
 * then; on POSIX it has no name from the start, so even a crash leaves nothing behind) or a
 * staged blob of the store ({@link Spool.over}), which the owner commits or discards.
 *
 * Writes are batched and run in the background, one at a time, while the next batch gathers; the
 * writer waits only when the file falls more than `LAG_BYTES` behind. Readers that keep up are
 * served from memory (the chunks as they arrived), never from the file.
 */
export class Spool {
  /** `undefined` for a download small enough to stay in memory whole. */
  readonly #file: SpoolFile | undefined;
  #written = 0;
  #state: 'filling' | 'done' | 'failed' = 'filling';
  #error: unknown;
  #wake: Array<() => void> = [];
  #refs = 1;
  #recent: Array<{ readonly offset: number; readonly bytes: Uint8Array }> = [];
  #recentBytes = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bytes on file (written, not necessarily synced). */
  #flushed = 0;
  /** The batch being written, if any. */
  #writing: Promise<void> | undefined;
  #writeFailure: { readonly error: unknown } | undefined;
  #synced = 0;
  #syncing: Promise<void> | undefined;
  #syncFailure: { readonly error: unknown } | undefined;

  private constructor(file: SpoolFile | undefined) {
    this.#file = file;
  }

  /**
   * Creates an empty spool: a file in `directory`, or nothing but memory when `size` says the
   * whole download fits in what is kept in memory anyway.
   */
  static async create(directory: string, size?: number): Promise<Spool> {
    if (size !== undefined && size <= RECENT_BYTES) return new Spool(undefined);
    const path = join(directory, `wharf-spool-${randomUUID()}`);
    const handle = await open(path, 'wx+', 0o600);
    const named = process.platform === 'win32';
    if (!named) await unlink(path).catch(() => {});
    return new Spool({
      handle,
      close: () =>
        handle.close().then(
          () => (named ? unlink(path).catch(() => {}) : undefined),
          () => {},
        ),
    });
  }

  /**
   * A spool writing into a staged blob (the download is then on disk once, where the store keeps
   * it); what is written is synced in the background as it grows, the rest by the commit.
   */
  static over(staged: StagedBlob): Spool {
    return new Spool({
      handle: staged.handle,
      sync: () => staged.sync(),
      close: () => staged.handle.close().catch(() => {}),
    });
  }

  /** Bytes written so far. */
  get written(): number {
    return this.#written;
  }

  /**
   * Appends a chunk, which readers see at once. Returns a promise when the writer must wait for
   * the file to catch up, else nothing (no promise per chunk on the hot path).
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#state !== 'filling') throw new Error('the spool is closed for writing');
    if (this.#writeFailure) throw this.#writeFailure.error;
    if (chunk.byteLength === 0) return undefined;
    this.#recent.push({ offset: this.#written, bytes: chunk });
    this.#recentBytes += chunk.byteLength;
    this.#written += chunk.byteLength;
    this.#trim();
    this.#notify();
    if (!this.#file) return undefined;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes < FLUSH_BYTES) return undefined;
    if (!this.#writing) {
      this.#flush();
      return undefined;
    }
    // The disk is busy: keep gathering (a slow fsync or write must not stall the clients), up to
    // a bound, and write it all in one go next.
    if (this.#pendingBytes < LAG_BYTES) return undefined;
    return this.#writing.then(() => {
      if (this.#writeFailure) throw this.#writeFailure.error;
      if (!this.#writing && this.#pendingBytes > 0) this.#flush();
    });
  }

  /**
   * Drops the oldest chunks from memory beyond the newest {@link RECENT_BYTES}, but only those
   * already in the file: what is not there yet must stay readable.
   */
  #trim(): void {
    if (!this.#file) return;
    for (;;) {
      const head = this.#recent[0];
      if (!head || head.offset + head.bytes.byteLength > this.#flushed) return;
      if (this.#recentBytes - head.bytes.byteLength < RECENT_BYTES) return;
      this.#recent.shift();
      this.#recentBytes -= head.bytes.byteLength;
    }
  }

  /** Starts writing the pending chunks to the file (the caller checked none is being written). */
  #flush(): void {
    const file = this.#file!;
    const chunks = this.#pending;
    const total = this.#pendingBytes;
    const at = this.#flushed;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writing = writeAt(file.handle, chunks, total, at).then(
      () => {
        this.#writing = undefined;
        this.#flushed = at + total;
        this.#trim();
        this.#syncAhead(file);
        if (this.#state !== 'failed' && this.#pendingBytes >= FLUSH_BYTES) this.#flush();
      },
      (error: unknown) => {
        this.#writing = undefined;
        this.#writeFailure = { error };
      },
    );
  }

  /** Syncs what is on file in the background every {@link SYNC_AHEAD} bytes (a staged blob only). */
  #syncAhead(file: SpoolFile): void {
    if (!file.sync || this.#syncing || this.#flushed - this.#synced < SYNC_AHEAD) return;
    this.#synced = this.#flushed;
    this.#syncing = file.sync().then(
      () => {
        this.#syncing = undefined;
      },
      (error: unknown) => {
        this.#syncing = undefined;
        // A failed fdatasync must not be forgotten: a later one may succeed although data was lost.
        this.#syncFailure = { error };
      },
    );
  }

  /** Waits for the file writes; throws the first one's failure. */
  async #drain(): Promise<void> {
    for (;;) {
      while (this.#writing) await this.#writing;
      if (this.#writeFailure) throw this.#writeFailure.error;
      if (this.#pendingBytes === 0) return;
      this.#flush();
    }
  }

  /**
   * Resolves once the background syncs are over; throws if one failed (then the file must not
   * become a blob). Call after {@link finish}.
   */
  async synced(): Promise<void> {
    if (this.#syncing) await this.#syncing;
    if (this.#syncFailure) throw this.#syncFailure.error;
  }

  /** Everything was written and verified: readers may read to the end. */
  async finish(): Promise<void> {
    if (this.#state !== 'filling') return;
    if (this.#file) await this.#drain();
    this.#state = 'done';
    this.#notify();
  }

  /** The download failed: every reader fails with `error`. */
  fail(error: unknown): void {
    if (this.#state !== 'filling') return;
    this.#state = 'failed';
    this.#error = error;
    this.#recent = [];
    this.#notify();
  }

  /** The writer is done with the spool (readers may go on). */
  release(): void {
    this.#unref();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
  }

  #progress(): Promise<void> {
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  #unref(): void {
    if (--this.#refs > 0) return;
    this.#recent = [];
    // A write still running would then fail on a closed file: wait for it first.
    const writing = this.#writing ?? Promise.resolve();
    void writing.then(() => this.#file?.close());
  }

  /**
   * Up to `max` bytes at `position`: from memory when they are recent enough (a view of the chunk
   * as it arrived, no copy), else from the file.
   */
  async #slice(position: number, max: number): Promise<Uint8Array> {
    for (let i = this.#recent.length - 1; i >= 0; i--) {
      const { offset, bytes } = this.#recent[i]!;
      if (position < offset) continue;
      if (position >= offset + bytes.byteLength) break;
      const start = position - offset;
      return bytes.subarray(start, start + Math.min(max, bytes.byteLength - start));
    }
    if (!this.#file || position >= this.#flushed) throw new Error('the spool lost bytes it kept in memory');
    const buffer = Buffer.allocUnsafe(Math.min(max, READ_SIZE, this.#flushed - position));
    const { bytesRead } = await this.#file.handle.read(buffer, 0, buffer.byteLength, position);
    return buffer.subarray(0, bytesRead);
  }

  /** Follows the spool from `offset`; see {@link SpoolReadOptions}. */
  read(options: SpoolReadOptions = {}): AsyncIterable<Uint8Array> {
    if (this.#refs <= 0) throw new Error('the spool is closed');
    this.#refs++;
    let position = options.offset ?? 0;
    const end = options.length === undefined ? undefined : position + options.length;
    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      this.#unref();
    };
    const iterator: AsyncIterator<Uint8Array> = {
      next: async () => {
        try {
          for (;;) {
            if (!open || (end !== undefined && position >= end)) {
              close();
              return { done: true, value: undefined };
            }
            if (this.#state === 'failed') throw this.#error;
            const available =
              this.#state === 'done' || !options.holdBack ? this.#written : Math.max(this.#written - 1, 0);
            const stop = end === undefined ? available : Math.min(end, available);
            if (position < stop) {
              const chunk = await this.#slice(position, stop - position);
              if (chunk.byteLength === 0) throw new Error('the spool file is shorter than written');
              position += chunk.byteLength;
              return { done: false, value: chunk };
            }
            if (this.#state === 'done') {
              if (end !== undefined && position < end)
                throw new Error('the download ended before the requested range');
              close();
              return { done: true, value: undefined };
            }
            await this.#progress();
          }
        } catch (error) {
          close();
          throw error;
        }
      },
      return: async () => {
        close();
        return { done: true, value: undefined };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }
}

/** Writes `chunks` (`total` bytes) at `position`, finishing short writes. */
async function writeAt(
  handle: FileHandle,
  chunks: Uint8Array[],
  total: number,
  position: number,
): Promise<void> {
  const done = (await handle.writev(chunks, position)).bytesWritten;
  if (done >= total) return;
  // A short write (rare for files): the rest one piece at a time.
  const rest = Buffer.concat(chunks).subarray(done);
  for (let offset = 0; offset < rest.byteLength; ) {
    const { bytesWritten } = await handle.write(
      rest,
      offset,
      rest.byteLength - offset,
      position + done + offset,
    );
    offset += bytesWritten;
  }
}
