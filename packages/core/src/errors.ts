import {
  type InvalidKeyError,
  isStoreError,
  type OffsetMismatchError,
  type StoreConflictError,
  type StoreKeyKind,
  type UploadNotFoundError,
} from './stores/errors.js';

/**
 * Error codes from the OCI distribution spec ("Error Codes"), plus `UNKNOWN` for server-side
 * failures (5xx responses are outside the spec's 4xx body rules).
 */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNKNOWN';

const DEFAULT_STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  UNKNOWN: 500,
};

const DEFAULT_MESSAGE: Record<ErrorCode, string> = {
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  MANIFEST_BLOB_UNKNOWN: 'manifest references a manifest or blob unknown to registry',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNKNOWN: 'manifest unknown to registry',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository name not known to registry',
  SIZE_INVALID: 'provided length did not match content length',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNSUPPORTED: 'the operation is unsupported',
  TOOMANYREQUESTS: 'too many requests',
  UNKNOWN: 'internal server error',
};

/** Options for {@link RegistryError}. */
export interface RegistryErrorOptions {
  /** HTTP status; defaults to the status the spec associates with the code. */
  status?: number;
  /** Human-readable message; defaults to the spec's description of the code. */
  message?: string;
  /** Arbitrary JSON detail sent to the client. */
  detail?: unknown;
  /** Extra response headers (e.g. `WWW-Authenticate`, `Range`, `Retry-After`). */
  headers?: Record<string, string>;
  /** The underlying error, kept for logging; never sent to the client. */
  cause?: unknown;
}

/**
 * The one error type wharf throws for anything a client can be told about. It carries the spec's
 * error code and the HTTP status, and renders as the spec's JSON error body.
 */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: RegistryErrorOptions = {}) {
    super(
      options.message ?? DEFAULT_MESSAGE[code],
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The spec's JSON error body for this error. */
  toJSON(): { errors: Array<{ code: ErrorCode; message: string; detail?: unknown }> } {
    const entry: { code: ErrorCode; message: string; detail?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** An upload's `Range` header: `0-<last byte>`; an empty upload reports `0-0`, as distribution does. */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

/**
 * The 416 a client gets when its chunk or commit names an offset the upload no longer has: the
 * spec's `BLOB_UPLOAD_INVALID` with the session's current `Range`, so the client can resume.
 */
export function uploadOffsetError(
  currentSize: number,
  message = 'chunk does not start at the end of the upload',
): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', {
    status: 416,
    message,
    detail: { size: currentSize },
    headers: { Range: uploadRange(currentSize) },
  });
}

/** True for a {@link RegistryError}, including one from another copy of this package. */
export function isRegistryError(error: unknown): error is RegistryError {
  return (
    error instanceof RegistryError ||
    (error instanceof Error &&
      error.name === 'RegistryError' &&
      typeof (error as Partial<RegistryError>).code === 'string' &&
      typeof (error as Partial<RegistryError>).status === 'number')
  );
}

const INVALID_KEY_CODES: Record<StoreKeyKind, ErrorCode> = {
  repository: 'NAME_INVALID',
  digest: 'DIGEST_INVALID',
  tag: 'MANIFEST_INVALID',
  upload: 'BLOB_UPLOAD_UNKNOWN',
  // Core builds every event key: a bad one is a bug, not the client's fault.
  event: 'UNKNOWN',
};

/** The one place where storage outcomes become the spec's codes. */
function fromStoreError(
  error: UploadNotFoundError | OffsetMismatchError | InvalidKeyError | StoreConflictError,
): RegistryError {
  switch (error.kind) {
    case 'upload-not-found':
      return new RegistryError('BLOB_UPLOAD_UNKNOWN', { cause: error });
    case 'offset-mismatch':
      return uploadOffsetError(error.currentSize, error.message);
    case 'invalid-key':
      return new RegistryError(INVALID_KEY_CODES[error.keyKind], {
        message: error.message,
        detail: { [error.keyKind]: error.value },
        cause: error,
      });
    case 'conflict':
      return new RegistryError('UNKNOWN', {
        status: 503,
        message: 'a concurrent write won; retry',
        headers: { 'Retry-After': '1' },
        cause: error,
      });
  }
}

/**
 * Maps any thrown value to a {@link RegistryError}. Store errors become the spec's codes (an
 * offset mismatch is 416 with the session's `Range`, a missing session `BLOB_UPLOAD_UNKNOWN`). Known Node system errors of the storage layer
 * become meaningful 5xx responses (disk full → 507, descriptor exhaustion → 503 with Retry-After);
 * everything else is a 500 whose cause is kept for the logger only.
 */
export function toRegistryError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  if (isStoreError(error)) return fromStoreError(error);
  const sys = (error as { code?: unknown } | null)?.code;
  if (sys === 'ENOSPC' || sys === 'EDQUOT') {
    return new RegistryError('UNKNOWN', { status: 507, message: 'insufficient storage', cause: error });
  }
  if (sys === 'EMFILE' || sys === 'ENFILE') {
    return new RegistryError('UNKNOWN', {
      status: 503,
      message: 'server is temporarily out of resources',
      headers: { 'Retry-After': '1' },
      cause: error,
    });
  }
  return new RegistryError('UNKNOWN', { cause: error });
}

/**
 * A factory (`createRegistry`, `createFsStorage`, `createHandler`, …) was given an option it cannot
 * use. Thrown where the options enter, before anything starts, and names the option and the problem:
 * `createFsStorage: option "root" must be a non-empty path`.
 */
export class OptionsError extends Error {
  override readonly name = 'OptionsError';
  /** The factory that refused its options. */
  readonly factory: string;
  /** The option's path, e.g. `limits.pageSize`. */
  readonly option: string;

  constructor(factory: string, option: string, problem: string) {
    super(`${factory}: option "${option}" ${problem}`);
    this.factory = factory;
    this.option = option;
  }
}
