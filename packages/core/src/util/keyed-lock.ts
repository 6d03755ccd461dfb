/**
 * Runs tasks one at a time per key, in the order they were asked for; tasks of different keys run
 * at once. A failed task does not stop the ones queued behind it.
 *
 * @example
 * ```ts
 * const lock = new KeyedLock();
 * // The second write of `a` starts only when the first has settled.
 * await Promise.all([lock.run('a', writeA), lock.run('a', writeA), lock.run('b', writeB)]);
 * ```
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Resolves or rejects as `task` does, once every earlier task of `key` has settled. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const result = (previous ? previous.then(task, task) : task()) as Promise<T>;
    const tail = result.catch(() => {});
    this.#tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
