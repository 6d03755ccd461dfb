/**
 * Where the registry reads the time: garbage collection ages, upload ages, the timestamps the
 * in-memory stores record. Tests pass a clock they move by hand, so "an hour later" takes no time
 * (see `docs/architecture.md`, "Time"). Durations that are measurements (request timings for the
 * observer) use the monotonic clock and ignore this.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, like `Date.now()`. */
  now(): number;
}

/** The system's clock. */
export const systemClock: Clock = { now: () => Date.now() };
