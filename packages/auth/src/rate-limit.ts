/** Limits on failed sign-ins. */
export interface RateLimitOptions {
  /** Failed attempts allowed per client address and user name within `windowSeconds`. Default 10. */
  readonly attempts?: number;
  /**
   * Failed attempts allowed per client address (any user names) within `windowSeconds`, which stops
   * one address from trying many names. Default 10 × `attempts`.
   */
  readonly addressAttempts?: number;
  /** The window, in seconds; a limited client may try again when it ends. Default 60. */
  readonly windowSeconds?: number;
  /** Most clients tracked at once (memory bound); the oldest are forgotten first. Default 100 000. */
  readonly maxEntries?: number;
}

interface Window {
  count: number;
  resetAt: number;
}

/**
 * An in-memory limiter of failed sign-ins (fixed windows), per client address + user name and per
 * client address. Once a key is over its limit, every attempt for it, right or wrong, is refused
 * until the window ends — otherwise a correct guess would still stand out.
 *
 * Each process counts on its own: behind a load balancer the effective limit is per replica.
 */
export class FailureLimiter {
  readonly #attempts: number;
  readonly #addressAttempts: number;
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #windows = new Map<string, Window>();
  readonly #now: () => number;

  constructor(options: RateLimitOptions = {}, now: () => number = Date.now) {
    this.#attempts = options.attempts ?? 10;
    this.#addressAttempts = options.addressAttempts ?? this.#attempts * 10;
    this.#windowMs = (options.windowSeconds ?? 60) * 1000;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = now;
    if (!(this.#attempts > 0) || !(this.#addressAttempts > 0) || !(this.#windowMs > 0)) {
      throw new RangeError('rate limits must be positive');
    }
  }

  #keys(address: string, user: string): [string, number][] {
    return [
      [`u\0${address}\0${user}`, this.#attempts],
      [`a\0${address}`, this.#addressAttempts],
    ];
  }

  /** Seconds until `address`/`user` may try again, or 0 when it may try now. */
  retryAfter(address: string, user: string): number {
    const now = this.#now();
    let wait = 0;
    for (const [key, limit] of this.#keys(address, user)) {
      const window = this.#windows.get(key);
      if (!window) continue;
      if (window.resetAt <= now) {
        this.#windows.delete(key);
        continue;
      }
      if (window.count >= limit) wait = Math.max(wait, Math.ceil((window.resetAt - now) / 1000));
    }
    return wait;
  }

  /** Records a failed attempt. */
  fail(address: string, user: string): void {
    const now = this.#now();
    for (const [key] of this.#keys(address, user)) {
      let window = this.#windows.get(key);
      if (!window || window.resetAt <= now) {
        this.#windows.delete(key);
        window = { count: 0, resetAt: now + this.#windowMs };
        this.#makeRoom(now);
        this.#windows.set(key, window);
      }
      window.count += 1;
    }
  }

  #makeRoom(now: number): void {
    if (this.#windows.size < this.#maxEntries) return;
    for (const [key, window] of this.#windows) if (window.resetAt <= now) this.#windows.delete(key);
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < this.#maxEntries) break;
      this.#windows.delete(key);
    }
  }
}
