/**
 * The requests being handled that may record events. The outbox's group commit waits for them,
 * briefly, so that one durable write serves all of them (docs/architecture.md, "Events"): under
 * concurrent pushes a write per request would cost more than the requests' own work.
 */
export class Writers {
  #active = 0;
  readonly #idle = new Set<() => void>();

  /** How many are being handled. */
  get active(): number {
    return this.#active;
  }

  /**
   * Counts a request in; call the returned function once it is handled, right before it records
   * its events (a commit waiting for it then includes them).
   */
  enter(): () => void {
    this.#active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#active--;
      // After the caller's synchronous recording: its events join the batch being gathered.
      if (this.#active === 0) queueMicrotask(() => this.#release());
    };
  }

  /** Resolves once no request is being handled, or after `maxMs`. */
  idle(maxMs: number): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#idle.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      this.#idle.add(done);
    });
  }

  #release(): void {
    if (this.#active > 0) return;
    for (const done of [...this.#idle]) done();
  }
}
