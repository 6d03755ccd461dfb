import type { Clock } from '@wharf/core';

/**
 * A clock that moves only when told to. Give the same one to the test registry (and to
 * `@wharf/auth` token factories): garbage collection ages, upload ages, token lifetimes and pull
 * rate-limit windows then follow it, so a test can step over an hour without waiting.
 */
export class TestClock implements Clock {
  #now: number;

  /** Starts at `start` (default: the real time when created). */
  constructor(start: Date | number = Date.now()) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock forward by `ms` milliseconds (negative moves it back). */
  advance(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError('advance() needs a finite number of milliseconds');
    this.#now += ms;
  }

  /** Sets the clock to `time`. */
  set(time: Date | number): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}
