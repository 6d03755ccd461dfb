/** A counting semaphore: at most `max` holders at once, the others wait in arrival order. */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #queue: Array<() => void> = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Requests in flight. */
  get active(): number {
    return this.#active;
  }

  /** Waits for a slot; resolves the function that gives it back (idempotent). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#active < this.#max) {
      this.#active++;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = (): void => {
          signal?.removeEventListener('abort', abandon);
          resolve();
        };
        const abandon = (): void => {
          const index = this.#queue.indexOf(grant);
          if (index >= 0) this.#queue.splice(index, 1);
          reject(signal?.reason ?? new Error('aborted'));
        };
        if (signal?.aborted) {
          abandon();
          return;
        }
        signal?.addEventListener('abort', abandon, { once: true });
        this.#queue.push(grant);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter, so the count stays the same.
      if (next) next();
      else this.#active--;
    };
  }
}

/**
 * Runs one operation per key at a time in this process: callers of a key that is already running
 * share its outcome. The operation runs detached from any caller (its own timeouts only), so a
 * caller that goes away leaves it to the others.
 */
export class Flights {
  readonly #running = new Map<string, Promise<unknown>>();

  /** Keys of operations with different result types must differ (prefix them by kind). */
  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key) as Promise<T> | undefined;
    if (running) return running;
    const started = operation().finally(() => {
      this.#running.delete(key);
    });
    this.#running.set(key, started);
    return started;
  }
}
