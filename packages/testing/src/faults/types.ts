import type { RouteCall, RouteName } from '@wharf/core';

/** What a fault does to a request. */
export type FaultEffect =
  /** Waits before the request is handled. */
  | { readonly type: 'latency'; readonly ms: number }
  /**
   * Answers with this status and the spec's error body instead of handling the request: 429
   * (`TOOMANYREQUESTS`), 500 (`UNKNOWN`), 502/503/504 (`UNAVAILABLE`) or any other.
   */
  | {
      readonly type: 'status';
      readonly status: number;
      /** `Retry-After`, in seconds or as an HTTP date. */
      readonly retryAfter?: number | string;
      readonly code?: string;
      readonly message?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /**
   * Resets the connection (TCP RST) after `afterBytes` bytes of the response body; with 0 (or
   * for a response without body) before any response. In process, `fetch` or the body read
   * rejects the way undici's do (`ECONNRESET`).
   */
  | { readonly type: 'reset'; readonly afterBytes: number }
  /**
   * Ends the response body after `afterBytes` bytes, keeping the declared `Content-Length`, and
   * closes the connection: the client sees a premature end of the body.
   */
  | { readonly type: 'truncate'; readonly afterBytes: number }
  /** Flips the bits of the body byte at `atByte` (the length stays right; only a digest check tells). */
  | { readonly type: 'corrupt'; readonly atByte: number }
  /** Adds a `Warning` header (`299 - "<text>"` by default, as the spec's warnings are). */
  | { readonly type: 'warning'; readonly text: string; readonly code?: number }
  /** Replaces `Docker-Content-Digest` with a wrong one (the given one, or a digest of something else). */
  | { readonly type: 'wrong-digest'; readonly digest?: string };

/**
 * When a fault applies, and what it does. Requests are matched by route (the names of core's route
 * table), method and repository; then `after`, `sequence`, `probability` and `times` decide which
 * of the matching requests get the fault, counting in arrival order. Probabilities are drawn from
 * the registry's seed, so the same seed and the same requests give the same faults.
 */
export interface FaultRule {
  /** A name for recorded requests and `faults.list()`. Default: the effect types. */
  readonly name?: string;
  readonly route?: RouteName | readonly RouteName[];
  /** `HEAD` is matched on its own; `GET` does not match `HEAD`. */
  readonly method?: string | readonly string[];
  readonly repository?: string | RegExp;
  /** Any other condition on the request. */
  readonly when?: (call: RouteCall) => boolean;
  /** Skip the first `after` matching requests. */
  readonly after?: number;
  /** Which matching requests (after `after`) get the fault: `true` at position i faults the i-th; past its end, none. */
  readonly sequence?: readonly boolean[];
  /** The chance each matching request gets the fault. Default 1. */
  readonly probability?: number;
  /** At most this many faults in all. */
  readonly times?: number;
  readonly effect: FaultEffect | readonly FaultEffect[];
}
