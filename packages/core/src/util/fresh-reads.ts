const ignore = (): void => {};

interface Flight<V> {
  readonly current: Promise<V>;
  /** The read that starts once `current` has settled, shared by everyone who asked meanwhile. */
  next?: Promise<V>;
}

/**
 * Shares reads of something that changes (a tag's target, a folder's listing) between concurrent
 * callers without ever answering from before a caller asked: a caller shares a read only if that
 * read starts after the caller arrived. The first caller starts a read; callers arriving while it
 * is in flight (it may have started before a write they have seen completed) wait for one more
 * read, started when it settles, which they all share. So each answer is as fresh as a read of the
 * caller's own, and a hot key costs at most about one read per round trip however many callers
 * ask. The S3 store reads tags through it, the fs event log its segments (see
 * `docs/architecture.md`, "S3 read path").
 */
export class FreshReads<V> {
  readonly #flights = new Map<string, Flight<V>>();

  /** `load()`'s result, from a read that started no earlier than this call. */
  read(key: string, load: () => Promise<V>): Promise<V> {
    const flight = this.#flights.get(key);
    if (!flight) return this.#start(key, load);
    flight.next ??= flight.current.then(ignore, ignore).then(() => this.#start(key, load));
    return flight.next;
  }

  /** How many keys have a read in flight. */
  get size(): number {
    return this.#flights.size;
  }

  #start(key: string, load: () => Promise<V>): Promise<V> {
    let current: Promise<V>;
    try {
      current = load();
    } catch (error) {
      current = Promise.reject(error);
    }
    const flight: Flight<V> = { current };
    this.#flights.set(key, flight);
    // Runs before the queued read's own continuation (registered later), which replaces the entry.
    const settle = (): void => {
      if (this.#flights.get(key) === flight && !flight.next) this.#flights.delete(key);
    };
    current.then(settle, settle);
    return current;
  }
}
