import { errorCode } from './errors.js';
import { noop } from './file-io.js';
import type { FsOperations } from './io.js';

/** The directory syncs of one directory: the one running and the one queued behind it. */
interface DirSync {
  running?: Promise<void>;
  queued?: Promise<void>;
}

/**
 * fsync of directories, so that entries created or renamed in them survive power loss, shared
 * between concurrent callers: a caller joins the sync queued behind the one running (which may
 * have started before its entry existed), so at most two run per directory. Used by {@link Io}.
 */
export class DirSyncs {
  readonly #fs: FsOperations;
  readonly #dirs = new Map<string, DirSync>();

  constructor(fs: FsOperations) {
    this.#fs = fs;
  }

  /** Resolves once everything created or renamed in `dir` before the call is durable. */
  sync(dir: string): Promise<void> {
    const state = this.#dirs.get(dir);
    if (!state) {
      const fresh: DirSync = {};
      this.#dirs.set(dir, fresh);
      return this.#start(dir, fresh);
    }
    if (!state.queued) {
      const running = state.running ?? Promise.resolve();
      state.queued = running.catch(noop).then(() => {
        state.queued = undefined;
        return this.#start(dir, state);
      });
    }
    return state.queued;
  }

  #start(dir: string, state: DirSync): Promise<void> {
    const running = this.#fsync(dir);
    state.running = running;
    const done = (): void => {
      if (state.running !== running) return;
      state.running = undefined;
      if (!state.queued) this.#dirs.delete(dir);
    };
    running.then(done, done);
    return running;
  }

  async #fsync(dir: string): Promise<void> {
    const handle = await this.#fs.open(dir, 'r');
    try {
      await handle.sync();
    } catch (error) {
      // Some file systems cannot fsync directories; their entries are as durable as they get.
      if (errorCode(error) !== 'EINVAL' && errorCode(error) !== 'ENOTSUP') throw error;
    } finally {
      await handle.close();
    }
  }
}
