import { RegistryError } from '../errors.js';

/**
 * How a request to an upstream failed:
 *
 * - `unreachable`: no connection (refused, reset, DNS);
 * - `timeout`: no answer, or a body that stalled, in time;
 * - `rate-limited`: 429, or still inside the wait its `Retry-After` asked for;
 * - `denied`: 401 or 403 after authenticating;
 * - `not-found`: 404;
 * - `status`: any other unexpected status;
 * - `invalid`: the content was wrong (digest, size, truncated body, malformed manifest).
 */
export type UpstreamFailure =
  | 'unreachable'
  | 'timeout'
  | 'rate-limited'
  | 'denied'
  | 'not-found'
  | 'status'
  | 'invalid';

/** A failed request to an upstream registry. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly kind: UpstreamFailure;
  /** The upstream's namespace. */
  readonly upstream: string;
  /** The upstream's status, when it answered. */
  readonly status: number | undefined;
  /** Seconds until the upstream accepts requests again (`rate-limited`). */
  readonly retryAfter: number | undefined;

  constructor(
    upstream: string,
    kind: UpstreamFailure,
    message: string,
    options: { status?: number; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(`upstream ${upstream}: ${message}`, options.cause === undefined ? {} : { cause: options.cause });
    this.upstream = upstream;
    this.kind = kind;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
  }
}

/** What a pull asked for, to pick the spec's code for an upstream 404. */
export type PulledThing = 'manifest' | 'blob' | 'repository';

const NOT_FOUND = {
  manifest: 'MANIFEST_UNKNOWN',
  blob: 'BLOB_UNKNOWN',
  repository: 'NAME_UNKNOWN',
} as const;

/**
 * The one place upstream failures become the spec's errors: 404 stays a not-found of the thing
 * pulled, 429 passes its `Retry-After` on, refusals are `DENIED`, and everything that means "the
 * upstream cannot serve this now" is a 5xx the client may retry (502, or 504 for timeouts).
 */
export function fromUpstreamError(error: UpstreamError, thing: PulledThing): RegistryError {
  const message = error.message;
  switch (error.kind) {
    case 'not-found':
      return new RegistryError(NOT_FOUND[thing], { message, cause: error });
    case 'rate-limited':
      return new RegistryError('TOOMANYREQUESTS', {
        message,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(error.retryAfter ?? 1))) },
        cause: error,
      });
    case 'denied':
      return new RegistryError('DENIED', { message, cause: error });
    case 'timeout':
      return new RegistryError('UNKNOWN', { status: 504, message, cause: error });
    default:
      return new RegistryError('UNKNOWN', { status: 502, message, cause: error });
  }
}

/** Whether `error` is an {@link UpstreamError}. */
export function isUpstreamError(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError;
}
