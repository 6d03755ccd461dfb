/**
 * Errors a store throws. They speak storage (a session is missing, an offset moved, a key cannot be
 * built, a write lost a race), never HTTP: core maps them to the spec's codes in one place
 * (`toRegistryError` in `errors.ts`), so every backend gets the same answers for free.
 */

/** What went wrong in a store. */
export type StoreErrorKind = 'upload-not-found' | 'offset-mismatch' | 'invalid-key' | 'conflict';

/** Base class of every error a store throws on purpose. */
export abstract class StoreError extends Error {
  abstract readonly kind: StoreErrorKind;
}

/** The upload session does not exist (never created, committed, cancelled or reaped). */
export class UploadNotFoundError extends StoreError {
  override readonly name = 'UploadNotFoundError';
  readonly kind = 'upload-not-found' as const;
  readonly uploadId: string | undefined;

  constructor(uploadId?: string) {
    super(
      uploadId === undefined
        ? 'upload session does not exist'
        : `upload session ${uploadId.slice(0, 128)} does not exist`,
    );
    this.uploadId = uploadId;
  }
}

/**
 * A write or commit named an offset or size that no longer matches the session (a stale or racing
 * writer). Nothing changed; `currentSize` is what the session holds.
 */
export class OffsetMismatchError extends StoreError {
  override readonly name = 'OffsetMismatchError';
  readonly kind = 'offset-mismatch' as const;
  /** The number of bytes the session actually holds. */
  readonly currentSize: number;

  constructor(currentSize: number, message = 'chunk does not start at the end of the upload') {
    super(message);
    this.currentSize = currentSize;
  }
}

/** What a key that cannot be stored was meant to be. */
export type StoreKeyKind = 'repository' | 'digest' | 'tag' | 'upload' | 'event';

/**
 * A name, digest, tag, upload id or event-store key cannot become a storage key (a store's own
 * guard: core validates everything first, so reaching this means a caller bypassed core).
 */
export class InvalidKeyError extends StoreError {
  override readonly name = 'InvalidKeyError';
  readonly kind = 'invalid-key' as const;
  readonly keyKind: StoreKeyKind;
  /** The rejected value, truncated. */
  readonly value: string;

  constructor(keyKind: StoreKeyKind, value: unknown) {
    const shown = String(value).slice(0, 256);
    super(`invalid ${keyKind}: ${JSON.stringify(shown)}`);
    this.keyKind = keyKind;
    this.value = shown;
  }
}

/** A conditional write lost to a concurrent one; retrying may succeed. */
export class StoreConflictError extends StoreError {
  override readonly name = 'StoreConflictError';
  readonly kind = 'conflict' as const;
}

const NAMES: Record<StoreErrorKind, string> = {
  'upload-not-found': 'UploadNotFoundError',
  'offset-mismatch': 'OffsetMismatchError',
  'invalid-key': 'InvalidKeyError',
  conflict: 'StoreConflictError',
};

/**
 * Whether `error` is a {@link StoreError} (of `kind`, when given), including one from another copy
 * of this package (a backend may bundle its own).
 */
export function isStoreError<K extends StoreErrorKind>(
  error: unknown,
  kind?: K,
): error is Extract<
  UploadNotFoundError | OffsetMismatchError | InvalidKeyError | StoreConflictError,
  { kind: K }
> {
  if (!(error instanceof Error)) return false;
  const actual = (error as Partial<StoreError>).kind;
  if (typeof actual !== 'string' || !(actual in NAMES) || error.name !== NAMES[actual as StoreErrorKind]) {
    return false;
  }
  return kind === undefined || actual === kind;
}
