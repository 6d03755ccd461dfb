import type { Hash } from 'node:crypto';
import { type Clock, systemClock } from '../clock.js';
import {
  createHasher,
  createNativeHasher,
  createResumableHasher,
  type Hasher,
  isNativeAlgorithm,
  type NativeHasher,
  type ResumableHasher,
} from '../hashing/hasher.js';
import { type DigestAlgorithm, isDigestAlgorithm } from '../oci/digest.js';
import type { HashState, UploadSession, UploadStore } from '../stores/types.js';

/**
 * How an upload's digest is computed across requests (docs/architecture.md, upload rule 2), fast:
 *
 * - On the replica that received the previous chunk, the live `node:crypto` hasher is kept in a
 *   small in-process cache (a pure optimisation) and simply continues. After each chunk a
 *   *checkpoint* (the digest of the bytes so far) is saved, so a closing PUT anywhere needs no
 *   re-read.
 * - When a chunk reaches a replica without the live hasher (another process, a restart), that
 *   request resumes from the saved WebAssembly state (hash-wasm) and saves a resumable state
 *   after its chunk, so clients that hop between replicas re-read nothing after the first hop.
 * - With no usable saved state, the staged bytes are re-hashed once.
 *
 * Saved states are opaque to stores; their first byte says which kind they are.
 */

const RESUMABLE = 1;
const CHECKPOINT = 2;

function encode(kind: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(payload.byteLength + 1);
  bytes[0] = kind;
  bytes.set(payload, 1);
  return bytes;
}

type Saved =
  | { readonly kind: 'resumable'; readonly offset: number; readonly state: Uint8Array }
  | { readonly kind: 'checkpoint'; readonly offset: number; readonly digest: string };

/** The session's saved state, if it is usable for `algorithm`. */
function savedState(session: UploadSession, algorithm: DigestAlgorithm): Saved | undefined {
  const saved = session.hashState;
  if (!saved || saved.algorithm !== algorithm || saved.offset > session.size || saved.state.byteLength < 2) {
    return undefined;
  }
  const payload = saved.state.subarray(1);
  if (saved.state[0] === RESUMABLE) return { kind: 'resumable', offset: saved.offset, state: payload };
  if (saved.state[0] === CHECKPOINT) {
    return { kind: 'checkpoint', offset: saved.offset, digest: Buffer.from(payload).toString('latin1') };
  }
  return undefined;
}

interface LiveEntry {
  readonly offset: number;
  readonly algorithm: string;
  readonly hash: Hash;
}

/** Live `node:crypto` hashers by upload id: bounded, least-recently-used first out, idle ones expire. */
export class LiveHashers {
  readonly #entries = new Map<string, LiveEntry & { readonly at: number }>();
  readonly #max: number;
  readonly #idleMs: number;
  readonly #clock: Clock;

  constructor(clock: Clock = systemClock, max = 4096, idleMs = 60 * 60 * 1000) {
    this.#clock = clock;
    this.#max = max;
    this.#idleMs = idleMs;
  }

  /** Removes and returns the live hasher of an upload if it is exactly at `offset`. */
  take(id: string, offset: number, algorithm: string): Hash | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    if (
      entry.offset !== offset ||
      entry.algorithm !== algorithm ||
      this.#clock.now() - entry.at > this.#idleMs
    ) {
      return undefined;
    }
    return entry.hash;
  }

  put(id: string, entry: LiveEntry): void {
    this.#entries.delete(id);
    this.#entries.set(id, { ...entry, at: this.#clock.now() });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  forget(id: string): void {
    this.#entries.delete(id);
  }
}

/** Hashes one chunk and knows what to save or keep after the chunk is staged. */
export interface ChunkHasher extends Hasher {
  /** What to save with the session once the chunk is staged. */
  stateAt(offset: number): HashState;
  /** Keeps the live hasher for the next request on this replica (a no-op for resumable hashing). */
  retain(id: string, offset: number): void;
}

function nativeChunk(hasher: NativeHasher, live: LiveHashers): ChunkHasher {
  return {
    ...hasher,
    stateAt: (offset) => ({
      algorithm: hasher.algorithm,
      offset,
      state: encode(CHECKPOINT, Buffer.from(hasher.digest(), 'latin1')),
    }),
    retain: (id, offset) => live.put(id, { offset, algorithm: hasher.algorithm, hash: hasher.hash }),
  };
}

function resumableChunk(hasher: ResumableHasher): ChunkHasher {
  return {
    ...hasher,
    stateAt: (offset) => ({ algorithm: hasher.algorithm, offset, state: encode(RESUMABLE, hasher.save()) }),
    retain: () => {},
  };
}

/** The session's algorithm, falling back to sha256 for a record this build cannot read. */
export function sessionAlgorithm(session: UploadSession): DigestAlgorithm {
  return isDigestAlgorithm(session.algorithm) ? session.algorithm : 'sha256';
}

/**
 * A hasher positioned at the end of the session's staged bytes, ready for the next chunk. The
 * cached live hasher is copied, never consumed, so a chunk that fails leaves it usable.
 */
export async function chunkHasher(
  uploads: UploadStore,
  live: LiveHashers,
  session: UploadSession,
  signal?: AbortSignal,
): Promise<ChunkHasher> {
  const algorithm = sessionAlgorithm(session);
  if (isNativeAlgorithm(algorithm)) {
    if (session.size === 0) return nativeChunk(createNativeHasher(algorithm), live);
    const hash = live.take(session.id, session.size, algorithm);
    if (hash) {
      // Put it back untouched: if this chunk fails, the next attempt continues from it.
      live.put(session.id, { offset: session.size, algorithm, hash });
      return nativeChunk(createNativeHasher(algorithm, hash), live);
    }
  }
  const saved = savedState(session, algorithm);
  const resumable = saved?.kind === 'resumable' ? saved : undefined;
  const hasher = await createResumableHasher(algorithm, resumable?.state);
  await feedStaged(uploads, session, resumable?.offset ?? 0, hasher, signal);
  return resumableChunk(hasher);
}

/**
 * The digest of everything staged, for a closing PUT without a body: from the live hasher or a
 * checkpoint when they cover the staged bytes (the normal case), else from a saved state plus the
 * gap, else (another algorithm, or no state) by reading the staged bytes once.
 */
export async function stagedDigest(
  uploads: UploadStore,
  live: LiveHashers,
  session: UploadSession,
  algorithm: DigestAlgorithm,
  signal?: AbortSignal,
): Promise<string> {
  if (isNativeAlgorithm(algorithm)) {
    const hash = live.take(session.id, session.size, algorithm);
    if (hash) return createNativeHasher(algorithm, hash).digest();
  }
  if (algorithm === sessionAlgorithm(session)) {
    const saved = savedState(session, algorithm);
    if (saved?.kind === 'checkpoint' && saved.offset === session.size) return saved.digest;
    if (saved?.kind === 'resumable') {
      const hasher = await createResumableHasher(algorithm, saved.state);
      await feedStaged(uploads, session, saved.offset, hasher, signal);
      return hasher.digest();
    }
  }
  const hasher = await createHasher(algorithm);
  await feedStaged(uploads, session, 0, hasher, signal);
  return hasher.digest();
}

async function feedStaged(
  uploads: UploadStore,
  session: UploadSession,
  from: number,
  hasher: Hasher,
  signal?: AbortSignal,
): Promise<void> {
  if (from >= session.size) return;
  for await (const chunk of uploads.read(session.id, { offset: from, length: session.size - from }, signal)) {
    hasher.update(chunk);
  }
}
