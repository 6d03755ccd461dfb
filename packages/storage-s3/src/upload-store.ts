import { randomBytes } from 'node:crypto';
import {
  type ByteWindow,
  collectBytes,
  type HashState,
  isStoreError,
  OffsetMismatchError,
  type UploadAppendOptions,
  type UploadCommitOptions,
  UploadNotFoundError,
  type UploadSession,
  type UploadStore,
} from '@wharf/core';
import type { Keys } from './keys.js';
import type { ObjectHead, ObjectStore, PutOptions } from './objects/types.js';
import { type KeyedLock, mapLimit, pad, quietly, streamBody, throwIfAborted } from './util.js';
import { type BufferPool, listAll, listPrefixes, MAX_PART_SIZE, purge, writeObject } from './writer.js';

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
type ClaimMode = 'conditional' | 'listed';

/** `session`: the immutable session record. */
interface SessionRecord {
  readonly id: string;
  readonly repository: string;
  readonly algorithm: string;
  readonly createdAt: string;
  readonly claims: ClaimMode;
}

/** A staged object holding the upload bytes `[start, start + size)`. */
interface Segment {
  /** Key relative to the session directory. */
  readonly key: string;
  readonly start: number;
  readonly size: number;
}

/** `c/<offset>`: the chunk that extends the upload at `offset` (immutable once written). */
interface ChunkClaim {
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
interface SealClaim {
  readonly kind: 'seal';
  readonly offset: number;
  readonly writer: string;
  readonly at: number;
}

type Claim = ChunkClaim | SealClaim;

/** What this process remembers of a session: only immutable facts, so it is a pure cache. */
interface CachedSession {
  readonly record: SessionRecord;
  /** Known chunk-claim offsets, ascending. */
  readonly offsets: number[];
  readonly claims: Map<number, ChunkClaim>;
  readonly hashes: Map<string, Uint8Array>;
}

interface LoadedState {
  readonly record: SessionRecord;
  readonly cached: CachedSession;
  /** Chunk-claim offsets, ascending (a trailing seal excluded). */
  readonly offsets: readonly number[];
  readonly size: number;
  readonly sealed: boolean;
  readonly updatedAt: Date;
  readonly last: ChunkClaim | undefined;
}

/** Settings of {@link S3UploadStore}. */
export interface S3UploadSettings {
  readonly buffers: BufferPool;
  readonly minPartSize: number;
  readonly maxParts: number;
  readonly concurrency: number;
  readonly conditionalWrites: boolean | 'auto';
  /** Parts uploading at once while a large chunk streams in. */
  readonly partsInFlight: number;
  /** Shared with the blob store: completions of multipart uploads, one at a time per key. */
  readonly completions: KeyedLock;
}

const CACHE_LIMIT = 512;
/** Rounds of the marker-and-list claim before a contended writer gives up (with a 416). */
const LISTED_CLAIM_ATTEMPTS = 8;

/** A run segment vanished while being merged: the session was removed meanwhile. */
class StaleRunError extends Error {}

function unknownUpload(): UploadNotFoundError {
  return new UploadNotFoundError();
}

function token(): string {
  return randomBytes(8).toString('hex');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * User metadata repeating a small record's bytes (base64), so that one HEAD reads it: cheaper than
 * a GET everywhere, and much faster on servers that hold back small response bodies.
 */
const INLINE = 'inline';
/** Records larger than this are not repeated in metadata (S3 allows 2 KiB of it). */
const INLINE_LIMIT = 1024;

/** The current segments of an upload, from its chunk claims in offset order. */
function layoutOf(claims: readonly ChunkClaim[], size: number): Segment[] {
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

/** One part of a server-side concatenation. */
type Piece =
  | { readonly kind: 'copy'; readonly key: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'data'; readonly keys: readonly string[]; readonly length: number };

/** Copy ranges of at most `MAX_PART_SIZE` covering a whole object (each at least half of it). */
function copyPieces(key: string, size: number): Piece[] {
  const count = Math.max(1, Math.ceil(size / MAX_PART_SIZE));
  const pieces: Piece[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = Math.floor(size / count) + (i < size % count ? 1 : 0);
    pieces.push({ kind: 'copy', key, offset, length });
    offset += length;
  }
  return pieces;
}

/**
 * {@link UploadStore} keeping every session in the bucket (`_wharf/uploads/<id>/`), so any
 * replica continues any upload:
 *
 * - `session`: the record; `c/<offset>`: one claim per chunk; `h/<alg>/<offset>`: hash states;
 *   `s/<start>-<token>`: staged segments; `p/…`, `m/…`: claim markers and commit intermediates.
 * - A PATCH streams its body into a new segment (one PutObject, or a multipart upload whose
 *   parts go out as they fill), then claims its offset atomically. A loser deletes its segment
 *   and answers 416. Every segment but a trailing run of small ones is at least the minimum part
 *   size: a chunk that brings the run to that size is written merged with it (the run, under
 *   5 MiB, is read back once and stays until the session ends), so a commit never re-uploads
 *   more than that run.
 * - A commit seals the session (a claim at its size, so stale appends fail), concatenates the
 *   segments into the blob key with `UploadPartCopy` (the trailing small run uploaded as the last
 *   part), and then deletes the session.
 */
export class S3UploadStore implements UploadStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #settings: S3UploadSettings;
  readonly #cache = new Map<string, CachedSession>();
  /**
   * Blobs being composed by a commit in this process, by blob key: a concurrent commit of the same
   * content waits for it instead of copying the same bytes again.
   */
  readonly #composing = new Map<string, Promise<void>>();
  #probe: Promise<ClaimMode> | undefined;
  /** Chunks of at least the minimum part size are staged without being read back. */
  readonly minChunkLength: number;

  constructor(store: ObjectStore, keys: Keys, settings: S3UploadSettings) {
    this.minChunkLength = settings.minPartSize;
    this.#store = store;
    this.#keys = keys;
    this.#settings = settings;
  }

  /** Forgets cached session facts. */
  clear(): void {
    this.#cache.clear();
  }

  #remember(id: string, cached: CachedSession): void {
    this.#cache.delete(id);
    this.#cache.set(id, cached);
    if (this.#cache.size > CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
  }

  async #claimMode(): Promise<ClaimMode> {
    const setting = this.#settings.conditionalWrites;
    if (setting !== 'auto') return setting ? 'conditional' : 'listed';
    this.#probe ??= this.#probeConditionalWrites();
    return this.#probe;
  }

  /** Whether the server refuses a second `If-None-Match: *` PutObject of a key. */
  async #probeConditionalWrites(): Promise<ClaimMode> {
    const key = `${this.#keys.probe}${token()}`;
    try {
      const first = await this.#store.put(key, Buffer.from('1'), { ifNoneMatch: true });
      const second = await this.#store.put(key, Buffer.from('2'), { ifNoneMatch: true });
      return first && !second ? 'conditional' : 'listed';
    } catch {
      this.#probe = undefined;
      return 'listed';
    } finally {
      await quietly(() => this.#store.delete([key]));
    }
  }

  /** Writes a small record (see {@link INLINE}). */
  #putRecord(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<boolean> {
    return this.#store.put(key, bytes, {
      ...options,
      ...(bytes.byteLength <= INLINE_LIMIT
        ? { metadata: { [INLINE]: Buffer.from(bytes).toString('base64') } }
        : {}),
    });
  }

  /** A small record's bytes: from a HEAD, or a GET when they are not in its metadata. */
  async #getBytes(key: string): Promise<Buffer | null> {
    const head = await this.#store.head(key);
    if (!head) return null;
    const inline = head.metadata[INLINE];
    if (inline !== undefined) return Buffer.from(inline, 'base64');
    const body = await this.#store.get(key);
    return body ? collectBytes(body) : null;
  }

  async #getJson<T>(key: string): Promise<T | null> {
    const bytes = await this.#getBytes(key);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as T) : null;
  }

  #claimKey(id: string, offset: number): string {
    return `${this.#keys.upload(id)}c/${pad(offset)}`;
  }

  async create(init: { id: string; repository: string; algorithm: string }): Promise<UploadSession> {
    const record: SessionRecord = {
      id: init.id,
      repository: init.repository,
      algorithm: init.algorithm,
      createdAt: new Date().toISOString(),
      claims: await this.#claimMode(),
    };
    await this.#putRecord(`${this.#keys.upload(init.id)}session`, json(record));
    this.#remember(init.id, { record, offsets: [], claims: new Map(), hashes: new Map() });
    const createdAt = new Date(record.createdAt);
    return { ...init, size: 0, createdAt, updatedAt: createdAt, hashState: null };
  }

  /**
   * The session's record, size and last chunk, or `null` when it does not exist. Two requests in
   * parallel (record, claim listing after the last known claim), plus the last claim when this
   * process has not seen it.
   */
  async #load(id: string): Promise<LoadedState | null> {
    for (let attempt = 0; ; attempt++) {
      const state = await this.#tryLoad(id);
      if (state !== undefined) return state;
      // A claim vanished between listing and reading it (a seal removed, a session deleted).
      if (attempt >= 3) throw new Error(`upload ${id} changed while being read`);
    }
  }

  /**
   * Claim offsets after the ones this process knows. Listings are slow on some servers (tens of
   * milliseconds on RGW), so when the last known chunk is cached the next claims are probed
   * directly at the offsets they must have; a listing is the fallback for a cold cache or a
   * session that moved on by several chunks.
   */
  async #newClaims(id: string, known: CachedSession | undefined): Promise<number[]> {
    const claimPrefix = `${this.#keys.upload(id)}c/`;
    const offsets: number[] = [];
    const lastKnown = known?.offsets[known.offsets.length - 1];
    let probe: ChunkClaim | undefined = lastKnown === undefined ? undefined : known?.claims.get(lastKnown);
    if (known && (lastKnown === undefined || probe)) {
      let next = probe ? probe.offset + probe.length : 0;
      for (let hops = 0; hops < 3; hops++) {
        const claim = await this.#getJson<Claim>(`${claimPrefix}${pad(next)}`);
        if (!claim) return offsets;
        offsets.push(next);
        if (claim.kind === 'seal') return offsets;
        known.claims.set(next, claim);
        probe = claim;
        next = claim.offset + claim.length;
      }
    }
    const last = offsets[offsets.length - 1] ?? lastKnown;
    const after = last === undefined ? undefined : `${claimPrefix}${pad(last)}`;
    for await (const object of listAll(this.#store, claimPrefix, after)) {
      const offset = Number(object.key.slice(claimPrefix.length));
      if (Number.isSafeInteger(offset)) offsets.push(offset);
    }
    return offsets;
  }

  async #tryLoad(id: string): Promise<LoadedState | null | undefined> {
    const dir = this.#keys.upload(id);
    const known = this.#cache.get(id);
    const claimPrefix = `${dir}c/`;
    const [record, listed] = await Promise.all([
      known
        ? this.#store.head(`${dir}session`).then((head) => (head ? known.record : null))
        : this.#getJson<SessionRecord>(`${dir}session`),
      this.#newClaims(id, known),
    ]);
    if (!record) {
      this.#cache.delete(id);
      return null;
    }
    const cached: CachedSession = known ?? { record, offsets: [], claims: new Map(), hashes: new Map() };
    const offsets = [...cached.offsets, ...listed];
    let sealed = false;
    let last: ChunkClaim | undefined;
    const tail = offsets[offsets.length - 1];
    if (tail !== undefined) {
      const claim = cached.claims.get(tail) ?? (await this.#getJson<Claim>(`${claimPrefix}${pad(tail)}`));
      if (!claim) return undefined;
      if (claim.kind === 'seal') {
        sealed = true;
        offsets.pop();
        const previous = offsets[offsets.length - 1];
        if (previous !== undefined) {
          const chunk = await this.#chunk(id, cached, previous);
          if (!chunk) return undefined;
          last = chunk;
        }
      } else {
        cached.claims.set(tail, claim);
        last = claim;
      }
    }
    // Only chunk claims are immutable: a seal may be removed again when its commit fails.
    cached.offsets.splice(0, cached.offsets.length, ...offsets);
    this.#remember(id, cached);
    const size = sealed ? tail! : last ? last.offset + last.length : 0;
    return {
      record,
      cached,
      offsets,
      size,
      sealed,
      updatedAt: new Date(last ? last.at : record.createdAt),
      last,
    };
  }

  /** A chunk claim, from the cache or the bucket. */
  async #chunk(id: string, cached: CachedSession, offset: number): Promise<ChunkClaim | null> {
    const hit = cached.claims.get(offset);
    if (hit) return hit;
    const claim = await this.#getJson<Claim>(this.#claimKey(id, offset));
    if (claim?.kind !== 'chunk') return null;
    cached.claims.set(offset, claim);
    return claim;
  }

  /** Every chunk claim of a loaded session, in order. */
  async #allChunks(id: string, state: LoadedState): Promise<ChunkClaim[]> {
    const claims = await mapLimit(state.offsets, this.#settings.concurrency, (offset) =>
      this.#chunk(id, state.cached, offset),
    );
    if (claims.some((c) => c === null)) throw new Error(`upload ${id} changed while being read`);
    return claims as ChunkClaim[];
  }

  /** The trailing segments smaller than the minimum part size (their total is below it too). */
  async #trailingRun(id: string, state: LoadedState): Promise<Segment[]> {
    const run: Segment[] = [];
    for (let i = state.offsets.length - 1; i >= 0; i--) {
      const claim = await this.#chunk(id, state.cached, state.offsets[i]!);
      if (!claim) throw new Error(`upload ${id} changed while being read`);
      if (claim.segment.size >= this.#settings.minPartSize) break;
      run.unshift(claim.segment);
      if (claim.segment.start < claim.offset) break;
    }
    return run;
  }

  /** The most advanced saved hash state at or below `size`. */
  async #hashState(id: string, state: LoadedState): Promise<HashState | null> {
    const { size, record, cached } = state;
    if (size === 0) return null;
    const dir = `${this.#keys.upload(id)}h/`;
    const direct = `${record.algorithm}/${pad(size)}`;
    let bytes: Uint8Array | null | undefined = cached.hashes.get(direct);
    if (!bytes) bytes = await this.#getBytes(`${dir}${direct}`);
    if (bytes) {
      cached.hashes.clear();
      cached.hashes.set(direct, bytes);
      return { algorithm: record.algorithm, offset: size, state: bytes };
    }
    let best: { algorithm: string; offset: number; key: string } | undefined;
    for await (const object of listAll(this.#store, dir)) {
      const [algorithm, offsetText] = object.key.slice(dir.length).split('/');
      const offset = Number(offsetText);
      if (!algorithm || !Number.isSafeInteger(offset) || offset > size) continue;
      if (!best || offset > best.offset) best = { algorithm, offset, key: object.key };
    }
    if (!best) return null;
    const found = await this.#getBytes(best.key);
    return found ? { algorithm: best.algorithm, offset: best.offset, state: found } : null;
  }

  #snapshot(state: LoadedState, hashState: HashState | null): UploadSession {
    const { record } = state;
    return {
      id: record.id,
      repository: record.repository,
      algorithm: record.algorithm,
      size: state.size,
      createdAt: new Date(record.createdAt),
      updatedAt: state.updatedAt,
      hashState,
    };
  }

  async get(id: string): Promise<UploadSession | null> {
    const state = await this.#load(id);
    return state ? this.#snapshot(state, await this.#hashState(id, state)) : null;
  }

  /**
   * Claims `offset` for `claim`; resolves whether this writer got it. A 412 whose claim carries
   * our own token is a retried request that had in fact succeeded.
   */
  async #claim(id: string, record: SessionRecord, claim: Claim): Promise<boolean> {
    const key = this.#claimKey(id, claim.offset);
    if (record.claims === 'conditional') {
      if (await this.#putRecord(key, json(claim), { ifNoneMatch: true })) return true;
      const existing = await this.#getJson<Claim>(key);
      return existing?.writer === claim.writer;
    }
    const pending = `${this.#keys.upload(id)}p/${pad(claim.offset)}-`;
    const mine = `${pending}${claim.writer}`;
    for (let attempt = 0; ; attempt++) {
      if (await this.#store.head(key)) return false;
      await this.#store.put(mine, json(claim));
      let alone = false;
      try {
        alone = !(await this.#store.list(pending)).objects.some((o) => o.key !== mine);
        if (alone && !(await this.#store.head(key))) {
          await this.#putRecord(key, json(claim));
          return true;
        }
      } finally {
        await quietly(() => this.#store.delete([mine]));
      }
      if (alone || attempt >= LISTED_CLAIM_ATTEMPTS) return false;
      // Racers saw each other: back off for a random while, so that one of them goes alone next.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * 2 ** attempt));
    }
  }

  /**
   * The session as this process last saw it, when that is complete enough to append at `offset`.
   * Safe to act on: if the session moved on since, the claim fails and the caller reloads.
   */
  #cachedState(id: string, offset: number): LoadedState | undefined {
    const cached = this.#cache.get(id);
    if (!cached) return undefined;
    const tail = cached.offsets[cached.offsets.length - 1];
    const last = tail === undefined ? undefined : cached.claims.get(tail);
    if (tail !== undefined && !last) return undefined;
    const size = last ? last.offset + last.length : 0;
    if (size !== offset) return undefined;
    const { record } = cached;
    return {
      record,
      cached,
      offsets: [...cached.offsets],
      size,
      sealed: false,
      updatedAt: new Date(last ? last.at : record.createdAt),
      last,
    };
  }

  async append(id: string, options: UploadAppendOptions): Promise<UploadSession> {
    const { offset, signal } = options;
    // Core has just read the session, so this process's view is usually current; a stale view
    // only costs a refused claim.
    const state = this.#cachedState(id, offset) ?? (await this.#load(id));
    if (!state) throw unknownUpload();
    if (state.sealed || state.size !== offset) throw new OffsetMismatchError(state.size);

    const dir = this.#keys.upload(id);
    const store = this.#store;
    const { buffers, minPartSize } = this.#settings;
    const run = await this.#trailingRun(id, state);
    const runSize = run.reduce((n, s) => n + s.size, 0);
    const iterator = options.body[Symbol.asyncIterator]();
    let bodyError: { error: unknown } | undefined;
    const next = async (): Promise<IteratorResult<Uint8Array>> => {
      try {
        return await iterator.next();
      } catch (error) {
        bodyError = { error };
        throw error;
      }
    };

    let segmentKey: string | undefined;
    let claimed = false;
    const writer = token();
    try {
      // Peek far enough to know whether this chunk, with the small run before it, reaches the
      // minimum part size (then it is written merged with the run) or stays a small segment.
      const peeked: Uint8Array[] = [];
      let peekedBytes = 0;
      let ended = false;
      while (peekedBytes < minPartSize - runSize) {
        throwIfAborted(signal);
        const result = await next();
        if (result.done) {
          ended = true;
          break;
        }
        if (result.value.byteLength === 0) continue;
        peeked.push(result.value);
        peekedBytes += result.value.byteLength;
      }
      throwIfAborted(signal);
      if (ended && peekedBytes === 0) return this.#snapshot(state, await this.#hashState(id, state));

      const merge = !ended && run.length > 0;
      const start = merge ? run[0]!.start : offset;
      const relative = `s/${pad(start)}-${writer}`;
      segmentKey = `${dir}${relative}`;
      let written: number;
      if (ended) {
        await store.put(segmentKey, Buffer.concat(peeked, peekedBytes), signal ? { signal } : {});
        written = peekedBytes;
      } else {
        const source = async function* (): AsyncGenerator<Uint8Array> {
          if (merge) {
            for (const segment of run) {
              const body = await store.get(`${dir}${segment.key}`, undefined, signal);
              // The session was cancelled or committed meanwhile.
              if (!body) throw new StaleRunError(segment.key);
              yield* streamBody(body);
            }
          }
          while (peeked.length > 0) yield peeked.shift()!;
          for (;;) {
            throwIfAborted(signal);
            const result = await next();
            if (result.done) return;
            yield result.value;
          }
        };
        written = await writeObject(store, segmentKey, source(), {
          buffers,
          partsInFlight: this.#settings.partsInFlight,
          ...(signal ? { signal } : {}),
        });
      }
      const length = written - (merge ? runSize : 0);
      const claim: ChunkClaim = {
        kind: 'chunk',
        offset,
        length,
        segment: { key: relative, start, size: written },
        writer,
        at: Date.now(),
      };
      // The session's record is checked while claiming: a session deleted before this chunk
      // arrived is reported as such. (One deleted while the claim is in flight may keep the
      // chunk's objects: the session listing sweeps directories without a record.)
      const [won, exists, hashState] = await Promise.all([
        this.#claim(id, state.record, claim),
        store.head(`${dir}session`),
        this.#hashState(id, state),
      ]);
      claimed = won;
      if (!exists) {
        const key = segmentKey;
        await quietly(() => store.delete(won ? [this.#claimKey(id, offset), key] : [key]));
        this.#cache.delete(id);
        throw unknownUpload();
      }
      if (!claimed) {
        const now = await this.#load(id);
        throw now ? new OffsetMismatchError(now.size) : unknownUpload();
      }
      state.cached.claims.set(offset, claim);
      if (state.cached.offsets[state.cached.offsets.length - 1] !== offset) state.cached.offsets.push(offset);
      // The run merged into the new segment stays until the session ends: it is under the
      // minimum part size, and deleting it now would cost this request a round trip.
      const updated: LoadedState = {
        ...state,
        offsets: [...state.offsets, offset],
        size: offset + length,
        updatedAt: new Date(claim.at),
        last: claim,
      };
      return this.#snapshot(updated, hashState);
    } catch (error) {
      if (segmentKey && !claimed) {
        const key = segmentKey;
        await quietly(() => store.delete([key]));
      }
      if (bodyError && bodyError.error === error) throw error;
      if (isStoreError(error)) throw error;
      // An S3 failure, or the session moved on under this writer: report where it is now.
      const now = await this.#load(id).catch(() => undefined);
      if (now === null) throw unknownUpload();
      if (now && now.size !== offset) throw new OffsetMismatchError(now.size);
      throw error;
    }
  }

  async saveHashState(id: string, state: HashState): Promise<void> {
    const dir = this.#keys.upload(id);
    const relative = `${state.algorithm}/${pad(state.offset)}`;
    const key = `${dir}h/${relative}`;
    // Core saves right after a chunk was accepted, so the session is known to exist; a state saved
    // into a session deleted meanwhile is swept with it by the session listing.
    await this.#putRecord(key, state.state);
    const cached = this.#cache.get(id);
    if (cached) {
      cached.hashes.clear();
      cached.hashes.set(relative, new Uint8Array(state.state));
    }
  }

  async *read(id: string, window: ByteWindow, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const state = await this.#load(id);
    if (!state) throw unknownUpload();
    const segments = layoutOf(await this.#allChunks(id, state), state.size);
    const dir = this.#keys.upload(id);
    const end = window.offset + window.length;
    for (const segment of segments) {
      const segmentEnd = segment.start + segment.size;
      if (segmentEnd <= window.offset || segment.start >= end) continue;
      throwIfAborted(signal);
      const from = Math.max(window.offset, segment.start);
      const to = Math.min(end, segmentEnd);
      const body = await this.#store.get(
        `${dir}${segment.key}`,
        { offset: from - segment.start, length: to - from },
        signal,
      );
      if (!body) throw new Error(`staged data of upload ${id} vanished`);
      yield* streamBody(body);
    }
  }

  async commit(id: string, options: UploadCommitOptions): Promise<void> {
    const { digest, size, signal } = options;
    // Core has just read the session, so this process's view is usually current; the seal below
    // validates it (a session that moved on refuses the seal).
    let state = this.#cachedState(id, size) ?? (await this.#load(id));
    if (!state) throw unknownUpload();
    if (state.size !== size) throw new OffsetMismatchError(state.size, 'upload size changed before commit');
    const dir = this.#keys.upload(id);
    const blobKey = this.#keys.blob(digest);

    // At once: seal (appends racing with this commit now fail instead of being lost), check that
    // the session still exists, and look for the blob.
    const seal: SealClaim = { kind: 'seal', offset: size, writer: token(), at: Date.now() };
    const [sealedHere, exists, blob] = await Promise.all([
      state.sealed ? false : this.#claim(id, state.record, seal),
      this.#store.head(`${dir}session`),
      this.#store.head(blobKey),
    ]);
    if (!exists) {
      if (sealedHere) await quietly(() => this.#store.delete([this.#claimKey(id, size)]));
      this.#cache.delete(id);
      // Another commit of this session finished first.
      if (blob?.size === size) return;
      throw unknownUpload();
    }
    if (!state.sealed && !sealedHere) {
      const now = await this.#load(id);
      if (!now) {
        if ((await this.#store.head(blobKey))?.size === size) return;
        throw unknownUpload();
      }
      if (now.size !== size || !now.sealed) throw new OffsetMismatchError(now.size);
      state = now;
    }
    const segments = layoutOf(await this.#allChunks(id, state), size);

    try {
      throwIfAborted(signal);
      await this.#materialize(id, digest, size, segments, blob, signal);
    } catch (error) {
      // Another commit of the same content (maybe of this very session) may have won the race.
      const again = await this.#store.head(blobKey).catch(() => null);
      if (again?.size !== size) {
        if (sealedHere) await quietly(() => this.#store.delete([this.#claimKey(id, size)]));
        throw error;
      }
    }
    await this.#removeCommitted(id, state);
  }

  /**
   * Makes the blob exist with the staged bytes: composes it, or waits for a commit of the same
   * content that is composing it in this process, or (when it already exists) refreshes its date,
   * as a rewrite would, for garbage collection.
   */
  async #materialize(
    id: string,
    digest: string,
    size: number,
    segments: readonly Segment[],
    blob: ObjectHead | null,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const blobKey = this.#keys.blob(digest);
    let head = blob;
    let fresh = false;
    for (;;) {
      if (head?.size === size) {
        if (!fresh) await this.#store.put(this.#keys.blobTouched(digest), new Uint8Array(0));
        return;
      }
      const running = this.#composing.get(blobKey);
      if (!running) break;
      // Written by that commit just now, or else composed here after all.
      fresh = await running.then(
        () => true,
        () => false,
      );
      throwIfAborted(signal);
      head = await this.#store.head(blobKey);
    }
    const job = this.#compose(id, blobKey, segments, signal);
    this.#composing.set(blobKey, job);
    try {
      await job;
    } finally {
      if (this.#composing.get(blobKey) === job) this.#composing.delete(blobKey);
    }
  }

  /**
   * Concatenates segments into `target` on the server. One segment is copied with CopyObject
   * (which some servers do without copying the bytes); several become a multipart upload with one
   * `UploadPartCopy` per segment (ranges over 5 GiB split), the trailing run of small segments
   * uploaded as the last part. More parts than the server allows are first combined into
   * intermediate objects the same way.
   */
  async #compose(
    id: string,
    target: string,
    segments: readonly Segment[],
    signal?: AbortSignal,
  ): Promise<void> {
    const dir = this.#keys.upload(id);
    const { minPartSize, maxParts, completions } = this.#settings;
    if (segments.length === 0) {
      await this.#store.put(target, Buffer.alloc(0), signal ? { signal } : {});
      return;
    }
    if (segments.length === 1 && segments[0]!.size <= MAX_PART_SIZE) {
      const source = `${dir}${segments[0]!.key}`;
      await completions.run(target, () => this.#store.copy(source, target, signal));
      return;
    }
    let pieces: Piece[] = [];
    let runStart = segments.length;
    while (runStart > 0 && segments[runStart - 1]!.size < minPartSize) runStart--;
    for (const segment of segments.slice(0, runStart))
      pieces.push(...copyPieces(`${dir}${segment.key}`, segment.size));
    const run = segments.slice(runStart);
    if (run.length === 1) pieces.push(...copyPieces(`${dir}${run[0]!.key}`, run[0]!.size));
    else if (run.length > 1) {
      pieces.push({
        kind: 'data',
        keys: run.map((s) => `${dir}${s.key}`),
        length: run.reduce((n, s) => n + s.size, 0),
      });
    }
    const intermediates: string[] = [];
    try {
      while (pieces.length > maxParts) {
        const next: Piece[] = [];
        for (let i = 0; i < pieces.length; i += maxParts) {
          const group = pieces.slice(i, i + maxParts);
          const key = `${dir}m/${token()}`;
          intermediates.push(key);
          await this.#multipart(key, group, signal);
          next.push(
            ...copyPieces(
              key,
              group.reduce((n, p) => n + p.length, 0),
            ),
          );
        }
        pieces = next;
      }
      await this.#multipart(target, pieces, signal);
    } finally {
      if (intermediates.length > 0) await quietly(() => this.#store.delete(intermediates));
    }
  }

  async #multipart(target: string, pieces: readonly Piece[], signal?: AbortSignal): Promise<void> {
    const store = this.#store;
    const uploadId = await store.createMultipart(target, signal);
    try {
      const etags = await mapLimit(pieces, this.#settings.concurrency, async (piece, index) => {
        throwIfAborted(signal);
        if (piece.kind === 'copy') {
          return store.copyPart(target, uploadId, index + 1, piece.key, piece, signal);
        }
        const parts: Buffer[] = [];
        for (const key of piece.keys) {
          const body = await store.get(key, undefined, signal);
          if (!body) throw new Error(`staged segment ${key} vanished`);
          parts.push(await collectBytes(body));
        }
        const data = Buffer.concat(parts);
        // The completed object is not read back: make sure this part has exactly its bytes.
        if (data.byteLength !== piece.length)
          throw new Error(`staged segments hold ${data.byteLength} bytes, not ${piece.length}`);
        return store.uploadPart(target, uploadId, index + 1, data, signal);
      });
      throwIfAborted(signal);
      const parts = etags.map((etag, index) => ({ partNumber: index + 1, etag }));
      await this.#settings.completions.run(target, () =>
        store.completeMultipart(target, uploadId, parts, signal),
      );
    } catch (error) {
      await quietly(() => store.abortMultipart(target, uploadId));
      throw error;
    }
  }

  /**
   * Removes a committed session with one request: every object it can have is known from its
   * claims (record, claims and seal, segments, hash states at chunk ends). Anything else left by a
   * writer racing the commit is swept by the session listing, since the record is gone.
   */
  async #removeCommitted(id: string, state: LoadedState): Promise<void> {
    const dir = this.#keys.upload(id);
    const keys = new Set([`${dir}session`, this.#claimKey(id, state.size)]);
    for (const offset of state.offsets) {
      const claim = state.cached.claims.get(offset);
      keys.add(this.#claimKey(id, offset));
      if (!claim) continue;
      keys.add(`${dir}${claim.segment.key}`);
      keys.add(`${dir}h/${state.record.algorithm}/${pad(claim.offset + claim.length)}`);
    }
    for (const relative of state.cached.hashes.keys()) keys.add(`${dir}h/${relative}`);
    this.#cache.delete(id);
    await this.#store.delete([...keys]);
  }

  /**
   * Removes a session: the record first (the session ends there), then whatever is under it.
   * Writers check the record after adding anything, so what they add later they take back
   * themselves; what a crash leaves is swept by the session listing.
   */
  async delete(id: string): Promise<boolean> {
    const dir = this.#keys.upload(id);
    const record = `${dir}session`;
    const existed = (await this.#store.head(record)) !== null;
    this.#cache.delete(id);
    if (existed) await this.#store.delete([record]);
    await purge(this.#store, dir);
    return existed;
  }

  /**
   * Every session. Directories without a record (left by a crash, or by a writer that raced a
   * deletion) are swept on the way.
   */
  async *list(): AsyncIterable<UploadSession> {
    const root = this.#keys.uploads;
    const ids = (await listPrefixes(this.#store, root)).map((p) => p.slice(root.length, -1));
    const { concurrency } = this.#settings;
    for (let i = 0; i < ids.length; i += concurrency) {
      const sessions = await mapLimit(ids.slice(i, i + concurrency), concurrency, async (id) => {
        const session = await this.get(id);
        if (!session) await quietly(() => purge(this.#store, this.#keys.upload(id)));
        return session;
      });
      for (const session of sessions) if (session) yield session;
    }
  }
}
