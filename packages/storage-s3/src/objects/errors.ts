/**
 * An S3 request that failed with an HTTP status (from the in-memory store or the signed request
 * path; the AWS SDK and minio throw their own errors, which {@link statusOf} reads too).
 */
export class S3RequestError extends Error {
  override readonly name = 'S3RequestError';
  /** The HTTP status the server answered with. */
  readonly status: number;
  /** The S3 error code (`NoSuchKey`, `EntityTooSmall`, …), or `''` when the server sent none. */
  readonly code: string;

  constructor(status: number, code: string, message?: string) {
    super(message ?? `S3 answered ${status}${code ? ` ${code}` : ''}`);
    this.status = status;
    this.code = code;
  }
}

/** The statuses S3 documents for its error codes, for errors that carry only a code (minio's). */
const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchBucket: 404,
  NotFound: 404,
  InvalidArgument: 400,
  InvalidRequest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  EntityTooSmall: 400,
  EntityTooLarge: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  AccessDenied: 403,
  PreconditionFailed: 412,
  InvalidRange: 416,
  InternalError: 500,
  SlowDown: 503,
  ServiceUnavailable: 503,
};

/** How minio reports a 5xx it retried in vain (the status is only in the message). */
const MINIO_RETRIED = /Retryable HTTP status: (\d{3})/;

/**
 * The HTTP status of a failed S3 request, whichever client threw it: {@link S3RequestError}, an AWS
 * SDK service error (`$metadata.httpStatusCode`), or a minio error (an `S3Error` carries only the
 * S3 error code; a retried 5xx only a message). Servers differ in error names but agree on
 * statuses, so callers decide on this.
 */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if (error instanceof S3RequestError) return error.status;
  const sdk = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  if (typeof sdk === 'number') return sdk;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && STATUS_OF_CODE[code] !== undefined) return STATUS_OF_CODE[code];
  const retried = error instanceof Error ? MINIO_RETRIED.exec(error.message) : null;
  return retried ? Number(retried[1]) : undefined;
}
