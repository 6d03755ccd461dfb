import { dirname, join } from 'node:path';
import {
  compareBytewise,
  type EventPutOptions,
  type EventStore,
  InvalidKeyError,
  isEventKey,
  type ListPage,
} from '@wharf/core';
import { errorCode, Io, isMissing, noop } from './io.js';

/** Folders remembered as existing, at most (one per endpoint and kind of record, in practice). */
const MAX_FOLDERS = 1024;

/**
 * The event outbox as small files under `<root>/docker/registry/v2/_wharf/events/` (where
 * distribution never looks), one file per record, each key component a directory level. Writes are
 * complete files renamed into place (`ifAbsent`: linked into place, which never replaces), synced
 * like every other acknowledged write.
 */
export class FsEventStore implements EventStore {
  readonly #dir: string;
  readonly #io: Io;
  /** The same operations without flushes, for records that need not survive a power failure. */
  readonly #unsynced: Io;
  /** Folders this process has written a record into. */
  readonly #folders = new Set<string>();

  constructor(base: string, io: Io) {
    this.#dir = join(base, '_wharf', 'events');
    this.#io = io;
    this.#unsynced = new Io(io.fs, false, (prefix) => io.temp(prefix));
  }

  #path(key: string): string {
    if (!isEventKey(key)) throw new InvalidKeyError('event', key);
    return join(this.#dir, ...key.split('/'));
  }

  async put(key: string, value: Uint8Array, options: EventPutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    const io = options.durable === false ? this.#unsynced : this.#io;
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
    return this.#io.readSmall(this.#path(key));
  }

  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((key) => this.#path(key));
    await Promise.all(paths.map((path) => this.#io.unlink(path)));
  }

  async list(dir: string, page: ListPage = {}): Promise<string[]> {
    let entries: Array<{ name: string; isFile(): boolean }>;
    try {
      entries = await this.#io.fs.readdir(this.#path(dir), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const names = entries
      .filter(
        (entry) =>
          entry.isFile() && (page.after === undefined || compareBytewise(entry.name, page.after) > 0),
      )
      .map((entry) => entry.name)
      .sort(compareBytewise);
    return page.limit === undefined ? names : names.slice(0, page.limit);
  }
}
