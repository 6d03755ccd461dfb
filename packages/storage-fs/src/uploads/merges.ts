import { join } from 'node:path';
import { errorCode, isMissing } from '../errors.js';
import { noop } from '../file-io.js';
import type { Io } from '../io.js';
import { uniqueSuffix } from '../layout.js';
import { chunkName, mergedName } from './session-dir.js';

/**
 * Copies claimed chunks into their session's first chunk file in the background, after the
 * request that appended them (see `FsUploadStore`): a commit then usually finds the blob whole.
 * Merges of one session run one after the other. Best effort: a merge that fails or is
 * interrupted leaves no marker, and the commit copies that chunk itself.
 */
export class ChunkMerges {
  readonly #io: Io;
  readonly #syncChunks: boolean;
  /** Merges running in this process, chained per session. */
  readonly #running = new Map<string, { readonly done: Promise<void>; readonly stop: AbortController }>();

  constructor(io: Io, syncChunks: boolean) {
    this.#io = io;
    this.#syncChunks = syncChunks;
  }

  /** Queues the copy of the chunk at `offset` (`length` bytes) into the one at `first`. */
  schedule(id: string, dir: string, first: number, offset: number, length: number): void {
    const previous = this.#running.get(id);
    const stop = previous?.stop ?? new AbortController();
    const done = (previous?.done ?? Promise.resolve())
      .then(() => this.#merge(dir, first, offset, length, stop.signal))
      .catch(noop)
      .finally(() => {
        if (this.#running.get(id)?.done === done) this.#running.delete(id);
      });
    this.#running.set(id, { done, stop });
  }

  /** Waits for this process's merges of a session. */
  async settle(id: string): Promise<void> {
    await this.#running.get(id)?.done;
  }

  /** Waits for every merge of this process (before closing). */
  async settleAll(): Promise<void> {
    while (this.#running.size > 0) {
      await Promise.all([...this.#running.values()].map((merge) => merge.done));
    }
  }

  /** Stops a session's merges: they would only copy bytes nobody needs any more. */
  stop(id: string): void {
    this.#running.get(id)?.stop.abort();
  }

  async #merge(
    dir: string,
    first: number,
    offset: number,
    length: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { fs } = this.#io;
    signal.throwIfAborted();
    const target = await fs.open(join(dir, chunkName(first)), 'r+');
    try {
      await this.#io.copyInto(join(dir, chunkName(offset)), 0, length, target, offset, signal);
      if (this.#syncChunks) await this.#io.datasync(target);
    } finally {
      await target.close();
    }
    // Only now: a marker that exists (whatever survived a crash) vouches for the copied bytes
    // (synced ones, when chunks are synced; otherwise a power loss ends the session anyway).
    try {
      await (await fs.open(join(dir, mergedName(offset)), 'wx')).close();
    } catch (error) {
      // The session was committed or deleted meanwhile.
      if (isMissing(error)) return;
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    // Once the marker is durable the chunk's own copy is redundant: free its pages and blocks.
    if (this.#syncChunks) await this.#io.syncDir(dir);
    await this.#hollow(dir, offset, length);
  }

  /**
   * Atomically replaces a merged chunk's file by a sparse one of the same length (no data): the
   * name, which is the claim, never disappears, and the staged size stays derivable from it.
   */
  async #hollow(dir: string, offset: number, length: number): Promise<void> {
    const { fs } = this.#io;
    const temp = join(dir, `.hollow-${uniqueSuffix()}`);
    try {
      const handle = await fs.open(temp, 'wx');
      try {
        await handle.truncate(length);
      } finally {
        await handle.close();
      }
      await fs.rename(temp, join(dir, chunkName(offset)));
    } catch (error) {
      await fs.unlink(temp).catch(noop);
      if (!isMissing(error)) throw error;
    }
  }
}
