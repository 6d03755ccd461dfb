import { RegistryError } from '../errors.js';
import type { ByteWindow } from '../stores/types.js';

/** The outcome of reading a `Range` header against a blob of known size. */
export type RangeRequest =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly window: ByteWindow }
  | { readonly kind: 'unsatisfiable' };

/**
 * Interprets a `Range` request header (RFC 9110 §14.2) for a resource of `size` bytes. One byte
 * range, including open-ended (`bytes=10-`) and suffix (`bytes=-10`) forms, is served as 206;
 * other units and multi-range requests are ignored (a full 200, which the RFC allows); a malformed
 * or unsatisfiable byte range is 416.
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'full' };
  const match = /^\s*([A-Za-z]+)\s*=\s*(.*)$/.exec(header);
  if (!match || match[1]!.toLowerCase() !== 'bytes') return { kind: 'full' };
  const spec = match[2]!.trim();
  if (spec.includes(',')) return { kind: 'full' };
  const parts = /^(\d*)-(\d*)$/.exec(spec);
  if (!parts || (parts[1] === '' && parts[2] === '')) return { kind: 'unsatisfiable' };
  const first = parts[1] === '' ? undefined : Number(parts[1]);
  const last = parts[2] === '' ? undefined : Number(parts[2]);
  if (first === undefined) {
    // Suffix range: the last N bytes.
    if (last === undefined || last === 0 || size === 0) return { kind: 'unsatisfiable' };
    const length = Math.min(last, size);
    return { kind: 'partial', window: { offset: size - length, length } };
  }
  if (first >= size) return { kind: 'unsatisfiable' };
  if (last !== undefined && last < first) return { kind: 'unsatisfiable' };
  const end = last === undefined ? size - 1 : Math.min(last, size - 1);
  return { kind: 'partial', window: { offset: first, length: end - first + 1 } };
}

/** An upload chunk's `Content-Range`: inclusive byte positions. */
export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses an upload chunk's `Content-Range` (`<start>-<end>`, inclusive). Accepts the RFC form
 * (`bytes 0-99/100`) some clients send as well as the spec's bare form. Malformed values are
 * `BLOB_UPLOAD_INVALID` (400); an end before the start is 416.
 */
export function parseChunkRange(header: string | null | undefined): ChunkRange | undefined {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  const match = /^\s*(?:bytes[ =])?\s*(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?\s*$/.exec(header);
  if (!match) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', {
      message: 'malformed Content-Range',
      detail: { header },
    });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', {
      status: 416,
      message: 'Content-Range ends before it starts',
    });
  }
  return { start, end };
}
