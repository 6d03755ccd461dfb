import { randomUUID } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Largest slice a reader takes from the file at once. */
const READ_SIZE = 1024 * 1024;
/** The newest bytes kept in memory too, so that readers keeping up never touch the file. */
const RECENT_BYTES = 8 * 1024 * 1024;
/**
 * Chunks are written to the file in batches of this size (one `writev`). Smaller than
 * `RECENT_BYTES`: what is not yet in the file is always still in memory.
 */
const FLUSH_BYTES = 1024 * 1024;

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

/**
 * A temporary file that a download is written into while any number of readers follow it at their
 * own pace, each from its own offset (docs/architecture.md, "Pull-through cache"). The download
 * never waits for a reader, and a reader that goes away affects nobody else. Readers end when the
 * writer {@link finish}es, and fail with the writer's error when it {@link fail}s. The file is
 * removed once the writer and every reader are done (on POSIX it has no name from the start, so
 * even a crash leaves nothing behind).
 */
export class Spool {
  /** `undefined` for a download small enough to stay in memory whole. */
  readonly #handle: FileHandle | undefined;
  readonly #path: string | undefined;
  #written = 0;
  #state: 'filling' | 'done' | 'failed' = 'filling';
  #error: unknown;
  #wake: Array<() => void> = [];
  #refs = 1;
  #recent: Array<{ readonly offset: number; readonly bytes: Uint8Array }> = [];
  #recentBytes = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #flushed = 0;

  private constructor(handle: FileHandle | undefined, path: string | undefined) {
    this.#handle = handle;
    this.#path = path;
  }

  /**
   * Creates an empty spool: a file in `directory`, or nothing but memory when `size` says the
   * whole download fits in what is kept in memory anyway.
   */
  static async create(directory: string, size?: number): Promise<Spool> {
    if (size !== undefined && size <= RECENT_BYTES) return new Spool(undefined, undefined);
    const path = join(directory, `wharf-spool-${randomUUID()}`);
    const handle = await open(path, 'wx+', 0o600);
    if (process.platform === 'win32') return new Spool(handle, path);
    await unlink(path).catch(() => {});
    return new Spool(handle, undefined);
  }

  /** Bytes written so far. */
  get written(): number {
    return this.#written;
  }

  /** Appends a chunk: readers see it at once; resolves when the writer may go on. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'filling') throw new Error('the spool is closed for writing');
    if (chunk.byteLength === 0) return;
    this.#recent.push({ offset: this.#written, bytes: chunk });
    this.#recentBytes += chunk.byteLength;
    while (this.#handle && this.#recentBytes - this.#recent[0]!.bytes.byteLength >= RECENT_BYTES) {
      this.#recentBytes -= this.#recent.shift()!.bytes.byteLength;
    }
    this.#written += chunk.byteLength;
    this.#notify();
    if (!this.#handle) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush();
  }

  /** Writes the pending chunks to the file. */
  async #flush(): Promise<void> {
    if (!this.#handle) return;
    const handle = this.#handle;
    const chunks = this.#pending;
    const total = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    let done = (await handle.writev(chunks, this.#flushed)).bytesWritten;
    // A short write (rare for files): the rest one piece at a time.
    if (done < total) {
      const rest = Buffer.concat(chunks).subarray(done);
      for (let offset = 0; offset < rest.byteLength; ) {
        const { bytesWritten } = await handle.write(
          rest,
          offset,
          rest.byteLength - offset,
          this.#flushed + done + offset,
        );
        offset += bytesWritten;
      }
      done = total;
    }
    this.#flushed += done;
  }

  /** Everything was written and verified: readers may read to the end. */
  async finish(): Promise<void> {
    if (this.#state !== 'filling') return;
    await this.#flush();
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
    void this.#handle?.close().then(
      () => (this.#path ? unlink(this.#path).catch(() => {}) : undefined),
      () => {},
    );
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
    if (!this.#handle) throw new Error('the spool lost bytes it kept in memory');
    const buffer = Buffer.allocUnsafe(Math.min(max, READ_SIZE));
    const { bytesRead } = await this.#handle.read(buffer, 0, buffer.byteLength, position);
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
