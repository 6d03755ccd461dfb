import { dirname, join } from 'node:path';
import {
  compareBytewise,
  type EventPutOptions,
  type EventStore,
  InvalidKeyError,
  isEventKey,
  type ListPage,
} from '@wharf/core';
import { errorCode, isMissing } from './errors.js';
import { EventLog } from './event-log.js';
import { noop } from './file-io.js';
import { Io } from './io.js';

/** Folders remembered as existing, at most (one per endpoint and kind of record, in practice). */
const MAX_FOLDERS = 1024;

/**
 * The event outbox as small files under `<root>/docker/registry/v2/_wharf/events/` (where
 * distribution never looks), one file per record, each key component a directory level. Writes are
 * complete files renamed into place (`ifAbsent`: linked into place, which never replaces), synced
 * like every other acknowledged write. Records written with `unique` (outbox entries) go to an
 * append-only log under `_wharf/events-log/` instead (see event-log.ts); reads, listings and
 * deletes see both.
 */
export class FsEventStore implements EventStore {
  readonly #dir: string;
  readonly #io: Io;
  /** The same operations without flushes, for records that need not survive a power failure. */
  readonly #unsynced: Io;
  /** Folders this process has written a record into. */
  readonly #folders = new Set<string>();
  /** Records written with `unique`. */
  readonly #log: EventLog;

  constructor(base: string, io: Io) {
    this.#dir = join(base, '_wharf', 'events');
    this.#io = io;
    this.#unsynced = new Io(io.fs, false, (prefix) => io.temp(prefix));
    this.#log = new EventLog(join(base, '_wharf', 'events-log'), io);
  }

  #path(key: string): string {
    if (!isEventKey(key)) throw new InvalidKeyError('event', key);
    return join(this.#dir, ...key.split('/'));
  }

  async put(key: string, value: Uint8Array, options: EventPutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    const io = options.durable === false ? this.#unsynced : this.#io;
    if (options.unique && !options.ifAbsent) {
      await this.#log.append(key, value, options.durable !== false);
      return true;
    }
    if (!options.ifAbsent) {
      // A folder written to before exists still (deletes never prune), and a rename into one that
      // was removed makes it again: only a new folder costs a mkdir per write.
      const dir = dirname(path);
      await io.writeAtomic(path, value, { newDir: !this.#folders.has(dir) });
      if (this.#folders.size >= MAX_FOLDERS) this.#folders.clear();
      this.#folders.add(dir);
      return true;
    }
    return this.#create(io, path, value);
  }

  /** Writes a complete temporary file, then link(2)s it into place: of racing creators one wins. */
  async #create(io: Io, path: string, value: Uint8Array): Promise<boolean> {
    const temp = io.temp('event');
    const dir = io.makeDir(dirname(path));
    dir.catch(noop);
    try {
      const handle = await io.create(temp);
      try {
        await handle.writeFile(value);
        await io.datasync(handle);
      } finally {
        await handle.close();
      }
      await dir;
      try {
        await io.fs.link(temp, path);
      } catch (error) {
        if (errorCode(error) === 'EEXIST') return false;
        if (!isMissing(error)) throw error;
        // A concurrent delete pruned the directory: make it again.
        await io.makeDir(dirname(path));
        await io.fs.link(temp, path);
      }
      await io.syncDir(dirname(path));
      return true;
    } finally {
      await dir.catch(noop);
      await io.fs.unlink(temp).catch(noop);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    const path = this.#path(key);
    if (this.#log.has(key)) return this.#log.get(key);
    return (await this.#io.readSmall(path)) ?? this.#log.get(key);
  }

  async delete(keys: readonly string[]): Promise<void> {
    // Every key is checked before anything is deleted.
    const paths = new Map(keys.map((key) => [key, this.#path(key)]));
    const files = await this.#log.delete(keys);
    await Promise.all(files.map((key) => this.#io.unlink(paths.get(key)!)));
  }

  /** Stops appending to the log's current segment. */
  async close(): Promise<void> {
    await this.#log.close();
  }

  async list(dir: string, page: ListPage = {}): Promise<string[]> {
    const path = this.#path(dir);
    const [files, logged] = await Promise.all([this.#files(path), this.#log.names(dir)]);
    const names = [...new Set([...files, ...logged])]
      .filter((name) => page.after === undefined || compareBytewise(name, page.after) > 0)
      .sort(compareBytewise);
    return page.limit === undefined ? names : names.slice(0, page.limit);
  }

  /** The names of the files directly in a folder. */
  async #files(path: string): Promise<string[]> {
    let entries: Array<{ name: string; isFile(): boolean }>;
    try {
      entries = await this.#io.fs.readdir(path, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
  }
}
