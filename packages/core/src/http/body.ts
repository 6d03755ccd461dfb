import { RegistryError } from '../errors.js';
import type { RegistryRequest } from './types.js';

/** Options of {@link meterBody}. */
export interface MeterOptions {
  /** The declared length (`Content-Length` or a `Content-Range` span); a mismatch is `SIZE_INVALID`. */
  readonly expectedLength?: number;
  /** More bytes than this is `413`. */
  readonly maxLength?: number;
  /** The error to raise past `maxLength`. */
  readonly tooLarge?: () => RegistryError;
  /** Sees every chunk (hashing). */
  readonly onData?: (chunk: Uint8Array) => void;
  /** Runs once the source has ended, before the consumer sees the end; may throw to reject it. */
  readonly verify?: (length: number) => void;
}

/** A body stream that counts what passes through it. */
export interface MeteredBody extends AsyncIterable<Uint8Array> {
  /** Bytes seen so far. */
  readonly length: number;
}

/**
 * Wraps a body so that every check happens while it streams: its consumer (a store) sees an error
 * instead of the end whenever the body is too long, too short or fails `verify`, and so never
 * commits bad data.
 */
export function meterBody(source: AsyncIterable<Uint8Array> | null, options: MeterOptions = {}): MeteredBody {
  let length = 0;
  const { expectedLength, maxLength, onData, verify } = options;
  const tooLarge =
    options.tooLarge ??
    (() => new RegistryError('SIZE_INVALID', { status: 413, message: 'request body too large' }));
  async function* run(): AsyncGenerator<Uint8Array> {
    if (source) {
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue;
        length += chunk.byteLength;
        if (maxLength !== undefined && length > maxLength) throw tooLarge();
        if (expectedLength !== undefined && length > expectedLength)
          throw sizeMismatch(expectedLength, length);
        onData?.(chunk);
        yield chunk;
      }
    }
    if (expectedLength !== undefined && length !== expectedLength) throw sizeMismatch(expectedLength, length);
    verify?.(length);
  }
  const iterable = run();
  return {
    get length() {
      return length;
    },
    [Symbol.asyncIterator]: () => iterable,
  };
}

function sizeMismatch(expected: number, actual: number): RegistryError {
  return new RegistryError('SIZE_INVALID', {
    message: `body length does not match the declared length ${expected}`,
    detail: { expected, received: actual },
  });
}

/** Parses `Content-Length`; `undefined` when absent, `SIZE_INVALID` when malformed. */
export function contentLength(request: RegistryRequest): number | undefined {
  const raw = request.headers.get('content-length');
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) {
    throw new RegistryError('SIZE_INVALID', { message: 'invalid Content-Length' });
  }
  return Number(raw.trim());
}

/** Reads a small body completely, refusing more than `limit` bytes with the given error. */
export async function readBody(
  request: RegistryRequest,
  limit: number,
  tooLarge: () => RegistryError,
): Promise<Buffer> {
  const declared = contentLength(request);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  const body = meterBody(request.body, {
    maxLength: limit,
    tooLarge,
    ...(declared !== undefined ? { expectedLength: declared } : {}),
  });
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks, body.length);
}

/** Consumes and discards a body (so a keep-alive connection stays usable). */
export async function drainBody(request: RegistryRequest): Promise<void> {
  if (!request.body) return;
  for await (const _ of request.body) {
    // discard
  }
}
