import { type Clock, type Logger, RegistryError, systemClock } from '@wharf/core';
import { FailureLimiter, type RateLimitOptions } from './rate-limit.js';
import { cachedVerifier, type UserSource, type VerifyCredentials, verifierOf } from './users.js';

/** The outcome of checking a user name and password. */
export type Authentication =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly retryAfter?: number };

/** Options shared by everything that checks passwords. */
export interface AuthenticatorOptions {
  readonly users: UserSource;
  /** How long a successful check is remembered, in seconds (0 disables). Default 60. */
  readonly cacheSeconds?: number;
  /** Limits on failed attempts; `false` disables them. Default: see {@link RateLimitOptions}. */
  readonly rateLimit?: RateLimitOptions | false;
  readonly logger?: Partial<Logger>;
  /**
   * Where the time is read: token lifetimes, the success cache, rate-limit windows. Default: the
   * system clock; tests pass the clock they give `createRegistry` and move it by hand.
   */
  readonly clock?: Clock;
}

/** Checks passwords with failure rate limiting, a success cache, and logs that never name secrets. */
export class Authenticator {
  readonly #verify: VerifyCredentials;
  readonly #limiter: FailureLimiter | undefined;
  readonly #logger: Partial<Logger> | undefined;

  constructor(options: AuthenticatorOptions) {
    const clock = options.clock ?? systemClock;
    const now = () => clock.now();
    this.#verify = cachedVerifier(verifierOf(options.users), options.cacheSeconds ?? 60, 10_000, now);
    this.#limiter = options.rateLimit === false ? undefined : new FailureLimiter(options.rateLimit, now);
    this.#logger = options.logger;
  }

  async authenticate(user: string, password: string, address: string): Promise<Authentication> {
    const retryAfter = this.#limiter?.retryAfter(address, user) ?? 0;
    if (retryAfter > 0) {
      this.#logger?.warn?.({ address, retryAfter }, 'authentication rate limited');
      return { ok: false, retryAfter };
    }
    let ok: boolean;
    try {
      ok = await this.#verify(user, password);
    } catch (error) {
      // Neither the client nor the log gets the source's error: it might quote its input.
      this.#logger?.error?.(
        { address, error: error instanceof Error ? error.name : 'error' },
        'user verification failed',
      );
      throw new RegistryError('UNKNOWN', { message: 'authentication is unavailable' });
    }
    if (ok) return { ok: true, user };
    this.#limiter?.fail(address, user);
    this.#logger?.warn?.({ address }, 'authentication failed');
    return { ok: false };
  }
}
