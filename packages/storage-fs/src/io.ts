import type { Stats } from 'node:fs';
import type * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileBody, nodeStreamBody } from '@wharf/core';
import { DirSyncs } from './dir-sync.js';
import { errorCode, isMissing } from './errors.js';
import { BufferPool, copyRange, emptyStream, noop, readChunks, readWhole, writeStreamTo } from './file-io.js';

/**
 * The `node:fs/promises` functions the store uses. {@link FsStorageOptions.fs} may replace any of
 * them, which is how tests inject faults (disk full, permission denied, descriptor exhaustion).
 */
export type FsOperations = Pick<
  typeof fsp,
  'open' | 'rename' | 'link' | 'unlink' | 'mkdir' | 'rmdir' | 'rm' | 'readdir' | 'stat' | 'utimes'
>;

/** How often a rename is retried when a concurrent prune removed its target directory. */
const RENAME_ATTEMPTS = 8;

/** Options of {@link Io.writeAtomic}. */
export interface WriteOptions {
  /** The target's directory probably does not exist yet: create it while the file is written. */
  readonly newDir?: boolean;
}

/** File-system primitives: large buffered I/O, atomic writes, durable renames. */
export class Io {
  readonly fs: FsOperations;
  /** Whether to fsync data and directories before acknowledging a write. */
  readonly sync: boolean;
  readonly #temp: (prefix: string) => string;
  readonly #dirSyncs: DirSyncs;

  constructor(fs: FsOperations, sync: boolean, temp: (prefix: string) => string) {
    this.fs = fs;
    this.sync = sync;
    this.#temp = temp;
    this.#dirSyncs = new DirSyncs(fs);
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
      return await readWhole(handle);
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
   * fsync of a directory, so entries created or renamed in it before the call survive power loss
   * (concurrent calls for one directory share work: see {@link DirSyncs}).
   */
  syncDir(dir: string): Promise<void> {
    return this.sync ? this.#dirSyncs.sync(dir) : Promise.resolve();
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

  /** {@link writeStreamTo} `handle`, synced in the background when durability is on. */
  writeStream(
    handle: FileHandle,
    source: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
    position = 0,
  ): Promise<number> {
    return writeStreamTo(handle, source, { sync: this.sync, position, ...(signal ? { signal } : {}) });
  }

  /**
   * Streams `length` bytes of a file from `start` in `IO_SIZE` (file-io.ts) reads, reading one buffer
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
      yield* readChunks(handle, start, length, signal);
    } finally {
      await handle.close();
    }
  }

  /**
   * Opens a file for streaming `range` (default: all of it), or resolves `null` when it does not
   * exist. The stream reads from the file as it was when opened (a concurrent replace or delete
   * does not affect it), one `IO_SIZE` (file-io.ts) buffer ahead of the consumer, and closes the file when
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
    try {
      await copyRange(this.#pool, { source: handle, start, length }, { target, position }, signal);
    } finally {
      await handle.close();
    }
  }

  readonly #pool = new BufferPool();
}
