import type { Stats } from 'node:fs';
import type * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileBody, nodeStreamBody } from '@wharf/core';

/**
 * The `node:fs/promises` functions the store uses. {@link FsStorageOptions.fs} may replace any of
 * them, which is how tests inject faults (disk full, permission denied, descriptor exhaustion).
 */
export type FsOperations = Pick<
  typeof fsp,
  'open' | 'rename' | 'link' | 'unlink' | 'mkdir' | 'rmdir' | 'rm' | 'readdir' | 'stat' | 'utimes'
>;

/** Reads and writes move at least this many bytes per system call (64 KiB is ~2× slower). */
export const IO_SIZE = 1 << 20;

/**
 * A large body being written is synced in the background every this many bytes, overlapping the
 * disk's work with receiving the rest (otherwise all of it waits for the final fdatasync).
 */
const SYNC_AHEAD = 16 * 1024 * 1024;

/** Copy buffers kept for reuse (two per copy in flight). */
const BUFFERS_KEPT = 8;

/** First read of a small file (links, records, hash states). */
const SMALL_READ = 8 * 1024;

/** How often a rename is retried when a concurrent prune removed its target directory. */
const RENAME_ATTEMPTS = 8;

/** The `code` of a Node system error. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A path (or one of its parents) does not exist. */
export function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function noop(): void {}

/** Options of {@link Io.writeAtomic}. */
export interface WriteOptions {
  /** The target's directory probably does not exist yet: create it while the file is written. */
  readonly newDir?: boolean;
}

/** The directory syncs of one directory: the one running and the one queued behind it. */
interface DirSync {
  running?: Promise<void>;
  queued?: Promise<void>;
}

/** File-system primitives: large buffered I/O, atomic writes, durable renames. */
export class Io {
  readonly fs: FsOperations;
  /** Whether to fsync data and directories before acknowledging a write. */
  readonly sync: boolean;
  readonly #temp: (prefix: string) => string;

  constructor(fs: FsOperations, sync: boolean, temp: (prefix: string) => string) {
    this.fs = fs;
    this.sync = sync;
    this.#temp = temp;
  }

  /** A fresh path in the private temporary directory. */
  temp(prefix: string): string {
    return this.#temp(prefix);
  }

  /** Directory entries, or `[]` when the directory does not exist. */
  async list(dir: string): Promise<string[]> {
    try {
      return await this.fs.readdir(dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  /** A small file's text, or `null` when it does not exist. */
  async readText(path: string): Promise<string | null> {
    const bytes = await this.readSmall(path);
    return bytes === null ? null : bytes.toString('utf8');
  }

  /** Opens a file for reading, or resolves `null` when it does not exist. */
  async #openExisting(path: string): Promise<FileHandle | null> {
    try {
      return await this.fs.open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /**
   * A small file's bytes, or `null` when it does not exist: open, read, close (readFile adds an
   * fstat, and each call is a thread-pool round trip).
   */
  async readSmall(path: string): Promise<Buffer | null> {
    const handle = await this.#openExisting(path);
    if (!handle) return null;
    try {
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
    } catch (error) {
      if (errorCode(error) === 'EISDIR') return null;
      throw error;
    } finally {
      await handle.close();
    }
  }

  /** Whether a path exists. */
  async exists(path: string): Promise<boolean> {
    try {
      await this.fs.stat(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /**
   * A link file's stat (its mtime is its age), or `undefined` when there is none: one stat instead
   * of reading it. Links are written atomically, so a present one is complete (an empty file, say
   * from another registry's crash, is no link).
   */
  async statLink(path: string): Promise<Stats | undefined> {
    try {
      const info = await this.fs.stat(path);
      return info.isFile() && info.size > 0 ? info : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Whether a link file is present (see {@link statLink}). */
  async hasLink(path: string): Promise<boolean> {
    return (await this.statLink(path)) !== undefined;
  }

  /**
   * Sets a file's modification time to now (a record rewritten, a blob reused); resolves `false`
   * when the file is missing or cannot be re-dated (another user's file), so the caller writes it.
   */
  async refresh(path: string): Promise<boolean> {
    const now = new Date();
    try {
      await this.fs.utimes(path, now, now);
      return true;
    } catch (error) {
      const code = errorCode(error);
      if (isMissing(error) || code === 'EPERM' || code === 'EACCES') return false;
      throw error;
    }
  }

  /**
   * Removes a file, or with `unmodifiedSince` only if it was not modified after that date.
   * Resolves whether it was removed. The conditional form is as atomic as a file system allows: a
   * file modified since is never even moved; otherwise it is taken out of place, judged again, and
   * put back if a writer refreshed it in between (a newer copy written meanwhile is kept).
   */
  async removeUnlessNewer(path: string, unmodifiedSince?: Date): Promise<boolean> {
    if (unmodifiedSince === undefined) return this.unlink(path);
    const limit = unmodifiedSince.getTime();
    try {
      if ((await this.fs.stat(path)).mtimeMs > limit) return false;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    const taken = this.temp('gc');
    try {
      await this.fs.rename(path, taken);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    if ((await this.fs.stat(taken)).mtimeMs > limit) {
      await this.#putBack(taken, path);
      return false;
    }
    await this.fs.unlink(taken);
    return true;
  }

  /** Returns a taken file to `path`, unless a newer copy was written there meanwhile. */
  async #putBack(taken: string, path: string): Promise<void> {
    try {
      // link(2) never replaces: a copy written meanwhile wins.
      await this.fs.link(taken, path);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') {
        // Its directory was pruned meanwhile: move it back whole.
        await this.renameInto(taken, path);
        return;
      }
    }
    await this.fs.unlink(taken);
  }

  /** Removes a file; resolves whether it existed. */
  async unlink(path: string): Promise<boolean> {
    try {
      await this.fs.unlink(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /**
   * Best-effort removal of a directory of files (or a file, or a deeper tree) — cleanup must not
   * mask the original error. A flat directory costs one readdir, parallel unlinks and an rmdir.
   */
  async discard(path: string): Promise<void> {
    try {
      const names = await this.fs.readdir(path);
      await Promise.all(names.map((name) => this.fs.unlink(join(path, name))));
      await this.fs.rmdir(path);
    } catch (error) {
      if (isMissing(error) && !(await this.exists(path).catch(() => true))) return;
      await this.fs.rm(path, { recursive: true, force: true }).catch(noop);
    }
  }

  /**
   * Removes `dir` and then its parents while they are empty, stopping below `stop`. rmdir(2) only
   * removes empty directories, so this never loses a concurrent writer's file; a writer whose
   * directory vanished retries (see {@link renameInto}).
   */
  async prune(dir: string, stop: string): Promise<void> {
    let current = dir;
    while (current.length > stop.length && current.startsWith(stop)) {
      try {
        await this.fs.rmdir(current);
      } catch {
        return;
      }
      current = dirname(current);
    }
  }

  /** fdatasync, unless durability is switched off. */
  async datasync(handle: FileHandle): Promise<void> {
    if (this.sync) await handle.datasync();
  }

  /**
   * fsync of a directory, so entries created or renamed in it before the call survive power loss.
   * Concurrent calls for one directory share work: a caller joins the sync queued behind the one
   * running (which may have started before its entry existed), so at most two run per directory.
   */
  syncDir(dir: string): Promise<void> {
    if (!this.sync) return Promise.resolve();
    const state = this.#dirSyncs.get(dir);
    if (!state) {
      const fresh: DirSync = {};
      this.#dirSyncs.set(dir, fresh);
      return this.#startDirSync(dir, fresh);
    }
    if (!state.queued) {
      const running = state.running ?? Promise.resolve();
      state.queued = running.catch(noop).then(() => {
        state.queued = undefined;
        return this.#startDirSync(dir, state);
      });
    }
    return state.queued;
  }

  readonly #dirSyncs = new Map<string, DirSync>();

  #startDirSync(dir: string, state: DirSync): Promise<void> {
    const running = this.#fsyncDir(dir);
    state.running = running;
    const done = (): void => {
      if (state.running !== running) return;
      state.running = undefined;
      if (!state.queued) this.#dirSyncs.delete(dir);
    };
    running.then(done, done);
    return running;
  }

  async #fsyncDir(dir: string): Promise<void> {
    const handle = await this.fs.open(dir, 'r');
    try {
      await handle.sync();
    } catch (error) {
      // Some file systems cannot fsync directories; their entries are as durable as they get.
      if (errorCode(error) !== 'EINVAL' && errorCode(error) !== 'ENOTSUP') throw error;
    } finally {
      await handle.close();
    }
  }

  /**
   * Renames `source` to `target`, creating the target's directory (again, if a concurrent prune
   * removed it), then makes the new entry durable. `onRenamed` runs as soon as the target exists.
   */
  async renameInto(source: string, target: string, onRenamed?: () => void): Promise<void> {
    const dir = dirname(target);
    let created: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.fs.rename(source, target);
        onRenamed?.();
        break;
      } catch (error) {
        if (!isMissing(error) || attempt >= RENAME_ATTEMPTS) throw error;
        created = (await this.fs.mkdir(dir, { recursive: true })) ?? created;
      }
    }
    await Promise.all([
      this.syncDir(dir),
      created === undefined ? undefined : this.#syncCreated(created, dir),
    ]);
  }

  /**
   * `mkdir -p`, making every directory it creates durable in its parent. Callers start it while
   * they write the file that goes into the directory, so that neither waits for the other.
   */
  async makeDir(dir: string): Promise<void> {
    const created = await this.fs.mkdir(dir, { recursive: true });
    if (created !== undefined) await this.#syncCreated(created, dir);
  }

  /** Makes directories created by `mkdir -p` (from `first` down to `leaf`) durable in their parents. */
  async #syncCreated(first: string, leaf: string): Promise<void> {
    if (!this.sync) return;
    const dirs: string[] = [];
    for (let dir = dirname(leaf); dir.length >= dirname(first).length; dir = dirname(dir)) {
      dirs.push(dir);
      if (dir === dirname(dir)) break;
    }
    await Promise.all(dirs.map((dir) => this.syncDir(dir)));
  }

  /**
   * Writes a small file atomically: a complete, synced temporary file renamed over the target.
   * Readers see the old content or the new, never a mix or an empty file.
   */
  async writeAtomic(target: string, content: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const temp = this.temp('w');
    const dir = options.newDir ? this.makeDir(dirname(target)) : undefined;
    dir?.catch(noop);
    try {
      const handle = await this.create(temp);
      try {
        await handle.writeFile(content);
        await this.datasync(handle);
      } finally {
        await handle.close();
      }
      await dir;
      await this.renameInto(temp, target);
    } catch (error) {
      await dir?.catch(noop);
      await this.fs.unlink(temp).catch(noop);
      throw error;
    }
  }

  /** Creates a fresh private file (recreating the temporary directory if it was removed). */
  async create(path: string, flags: 'wx' | 'wx+' = 'wx'): Promise<FileHandle> {
    try {
      return await this.fs.open(path, flags);
    } catch (error) {
      if (!isMissing(error)) throw error;
      await this.fs.mkdir(dirname(path), { recursive: true });
      return await this.fs.open(path, flags);
    }
  }

  /**
   * Streams `source` into `handle` from `position`, coalescing chunks into writes of at least
   * {@link IO_SIZE} bytes. One write is in flight while the next batch is read, and the source is
   * not read further until that write completes (backpressure). With durability on, what is
   * written is also synced in the background every {@link SYNC_AHEAD} bytes (the caller still
   * syncs at the end). Resolves the bytes written.
   */
  async writeStream(
    handle: FileHandle,
    source: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
    position = 0,
  ): Promise<number> {
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
      if (this.sync && !syncing && offset - synced >= SYNC_AHEAD) {
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

  /**
   * Streams `length` bytes of a file from `start` in {@link IO_SIZE} reads, reading one buffer
   * ahead of the consumer. The file is opened on the first `next()` and closed when the stream
   * ends, fails, or the consumer stops early; `signal` aborts it.
   */
  async *readRange(
    path: string,
    start: number,
    length: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer> {
    signal?.throwIfAborted();
    if (length <= 0) return;
    const handle = await this.fs.open(path, 'r');
    try {
      yield* this.readHandle(handle, start, length, signal);
    } finally {
      await handle.close();
    }
  }

  /** {@link readRange} from a file the caller opened (and closes). */
  async *readHandle(
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

  /**
   * Opens a file for streaming `range` (default: all of it), or resolves `null` when it does not
   * exist. The stream reads from the file as it was when opened (a concurrent replace or delete
   * does not affect it), one {@link IO_SIZE} buffer ahead of the consumer, and closes the file when
   * it ends, fails, is returned early (even before its first read) or `signal` aborts.
   */
  async openRange(
    path: string,
    range?: { readonly offset: number; readonly length: number },
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array> | null> {
    signal?.throwIfAborted();
    const handle = await this.#openExisting(path);
    if (!handle) return null;
    try {
      if (range && range.length <= 0) {
        await handle.close();
        return emptyStream();
      }
      // A file body: a Node stream to any reader, and read with reused buffers by the node:http
      // adapter. Without a range it reads to the end of the file (no fstat: core stat'ed the blob).
      return nodeStreamBody(new FileBody(handle, range), signal);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Copies `length` bytes of a file (from `start`) into `target` at `position`. */
  async copyInto(
    source: string,
    start: number,
    length: number,
    target: FileHandle,
    position: number,
    signal?: AbortSignal,
  ): Promise<void> {
    signal?.throwIfAborted();
    if (length <= 0) return;
    const handle = await this.fs.open(source, 'r');
    // Two reused buffers, the next read overlapping the current write: no fresh memory to fault
    // in for every megabyte copied.
    let current = this.#buffer();
    let spare = this.#buffer();
    try {
      let size = Math.min(IO_SIZE, length);
      await readInto(handle, current, size, start);
      let done = 0;
      for (;;) {
        signal?.throwIfAborted();
        const next = Math.min(IO_SIZE, length - done - size);
        const [wrote, read] = await Promise.allSettled([
          writeAll(target, [current.subarray(0, size)], position + done),
          next > 0 ? readInto(handle, spare, next, start + done + size) : undefined,
        ]);
        if (wrote.status === 'rejected') throw wrote.reason;
        if (read.status === 'rejected') throw read.reason;
        done += size;
        if (next === 0) break;
        [current, spare] = [spare, current];
        size = next;
      }
    } finally {
      this.#release(current);
      this.#release(spare);
      await handle.close();
    }
  }

  readonly #buffers: Buffer[] = [];

  /** An {@link IO_SIZE} buffer, reused across copies. */
  #buffer(): Buffer {
    return this.#buffers.pop() ?? Buffer.allocUnsafeSlow(IO_SIZE);
  }

  #release(buffer: Buffer): void {
    if (this.#buffers.length < BUFFERS_KEPT) this.#buffers.push(buffer);
  }
}

/** Reads exactly `size` bytes at `position` into the start of `buffer`. */
async function readInto(handle: FileHandle, buffer: Buffer, size: number, position: number): Promise<void> {
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(buffer, filled, size - filled, position + filled);
    if (bytesRead === 0) throw Object.assign(new Error('file is shorter than expected'), { code: 'EIO' });
    filled += bytesRead;
  }
}

/** fdatasync as a promise (also when a replaced `datasync` throws instead of rejecting). */
async function datasyncOf(handle: FileHandle): Promise<void> {
  await handle.datasync();
}

/** A stream with nothing in it. */
async function* emptyStream(): AsyncGenerator<Uint8Array> {}

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

/** Reads exactly `size` bytes at `position`; a file shorter than that is an error. */
export async function readExactly(handle: FileHandle, size: number, position: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  await readInto(handle, buffer, size, position);
  return buffer;
}
