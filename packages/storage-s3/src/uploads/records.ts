import { randomBytes } from 'node:crypto';
import { collectBytes } from '@wharf/core';
import type { ObjectStore, PutOptions } from '../objects/types.js';

/**
 * How a session's chunk offsets are claimed:
 * - `conditional`: `PutObject` of `c/<offset>` with `If-None-Match: *`; the server lets exactly one
 *   writer create the key.
 * - `listed`: for servers without conditional writes. A writer puts a pending marker
 *   `p/<offset>-<token>`, lists `p/<offset>-`, and writes `c/<offset>` only when its marker is the
 *   only one and `c/<offset>` does not exist yet; racers that see each other withdraw and retry
 *   after a random backoff. With strongly consistent listings at most one racer succeeds; one
 *   normally does, but after several contended rounds all may give up (416, the client retries).
 *   A process that dies between its marker and its claim leaves that offset blocked: the client
 *   restarts the upload and garbage collection reaps the session.
 */
export type ClaimMode = 'conditional' | 'listed';

/** `session`: the immutable session record. */
export interface SessionRecord {
  readonly id: string;
  readonly repository: string;
  readonly algorithm: string;
  readonly createdAt: string;
  readonly claims: ClaimMode;
}

/** A staged object holding the upload bytes `[start, start + size)`. */
export interface Segment {
  /** Key relative to the session directory. */
  readonly key: string;
  readonly start: number;
  readonly size: number;
}

/** `c/<offset>`: the chunk that extends the upload at `offset` (immutable once written). */
export interface ChunkClaim {
  readonly kind: 'chunk';
  readonly offset: number;
  readonly length: number;
  /**
   * Where the chunk's bytes are. A segment starting before `offset` replaces the trailing small
   * segments it was merged with.
   */
  readonly segment: Segment;
  readonly writer: string;
  /** When the chunk was claimed (ms since the epoch). */
  readonly at: number;
}

/** `c/<size>` written by a commit: nothing may be appended any more. */
export interface SealClaim {
  readonly kind: 'seal';
  readonly offset: number;
  readonly writer: string;
  readonly at: number;
}

export type Claim = ChunkClaim | SealClaim;

/** A random token naming a writer, a segment or a probe. */
export function token(): string {
  return randomBytes(8).toString('hex');
}

export function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * User metadata repeating a small record's bytes (base64), so that one HEAD reads it: cheaper than
 * a GET everywhere, and much faster on servers that hold back small response bodies.
 */
const INLINE = 'inline';
/** Records larger than this are not repeated in metadata (S3 allows 2 KiB of it). */
const INLINE_LIMIT = 1024;

/** Writes a small record (its bytes repeated in metadata when they fit). */
export function putRecord(
  store: ObjectStore,
  key: string,
  bytes: Uint8Array,
  options: PutOptions = {},
): Promise<boolean> {
  return store.put(key, bytes, {
    ...options,
    ...(bytes.byteLength <= INLINE_LIMIT
      ? { metadata: { [INLINE]: Buffer.from(bytes).toString('base64') } }
      : {}),
  });
}

/** A small record's bytes: from a HEAD, or a GET when they are not in its metadata. */
export async function getRecord(store: ObjectStore, key: string): Promise<Buffer | null> {
  const head = await store.head(key);
  if (!head) return null;
  const inline = head.metadata[INLINE];
  if (inline !== undefined) return Buffer.from(inline, 'base64');
  const body = await store.get(key);
  return body ? collectBytes(body) : null;
}

/** A small JSON record, or `null`. */
export async function getJson<T>(store: ObjectStore, key: string): Promise<T | null> {
  const bytes = await getRecord(store, key);
  return bytes ? (JSON.parse(bytes.toString('utf8')) as T) : null;
}

/** The current segments of an upload, from its chunk claims in offset order. */
export function layoutOf(claims: readonly ChunkClaim[], size: number): Segment[] {
  const segments: Segment[] = [];
  for (const claim of claims) {
    while (segments.length > 0 && segments[segments.length - 1]!.start >= claim.segment.start) segments.pop();
    segments.push(claim.segment);
  }
  let position = 0;
  for (const segment of segments) {
    if (segment.start !== position) throw new Error(`upload layout has a gap at ${position}`);
    position += segment.size;
  }
  if (position !== size) throw new Error(`upload layout covers ${position} of ${size} bytes`);
  return segments;
}
