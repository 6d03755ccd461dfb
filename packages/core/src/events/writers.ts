/**
 * The requests being handled that may record events. The outbox's group commit waits for them,
 * briefly, so that one durable write serves all of them (docs/architecture.md, "Events"): under
 * concurrent pushes a write per request would cost more than the requests' own work.
 */
export class Writers {
  #next = 0;
  /** Sequence numbers of the requests being handled, oldest first (a Set keeps insertion order). */
  readonly #handling = new Set<number>();
  readonly #waiting: Array<{ readonly before: number; readonly done: () => void }> = [];

  /** How many are being handled. */
  get active(): number {
    return this.#handling.size;
  }

  /**
   * Counts a request in; call the returned function once it is handled, right before it records
   * its events (a commit waiting for it then includes them).
   */
  enter(): () => void {
    const sequence = this.#next++;
    this.#handling.add(sequence);
    return () => {
      if (!this.#handling.delete(sequence)) return;
      // After the caller's synchronous recording: its events join the batch being gathered.
      if (this.#waiting.length > 0) queueMicrotask(() => this.#release());
    };
  }

  /**
   * Resolves once every request being handled now has left, or after `maxMs`. Requests that
   * arrive meanwhile do not prolong the wait: under steady load there is always one in flight,
   * and waiting for a quiet moment would cost every commit the whole `maxMs`.
   */
  settled(maxMs: number): Promise<void> {
    if (this.#handling.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        before: this.#next,
        done: (): void => {
          clearTimeout(timer);
          const index = this.#waiting.indexOf(waiter);
          if (index >= 0) this.#waiting.splice(index, 1);
          resolve();
        },
      };
      const timer = setTimeout(waiter.done, maxMs);
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    const oldest = this.#handling.values().next();
    const first = oldest.done ? Number.POSITIVE_INFINITY : oldest.value;
    for (const waiter of [...this.#waiting]) if (first >= waiter.before) waiter.done();
  }
}
