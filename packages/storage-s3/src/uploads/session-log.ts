import type { HashState, UploadSession } from '@wharf/core';
import type { Keys } from '../keys.js';
import type { ObjectStore } from '../objects/types.js';
import { mapLimit, pad, quietly } from '../util.js';
import { listAll } from '../writer.js';
import {
  type ChunkClaim,
  type Claim,
  type ClaimMode,
  getJson,
  getRecord,
  json,
  putRecord,
  type Segment,
  type SessionRecord,
  token,
} from './records.js';

/** What this process remembers of a session: only immutable facts, so it is a pure cache. */
export interface CachedSession {
  readonly record: SessionRecord;
  /** Known chunk-claim offsets, ascending. */
  readonly offsets: number[];
  readonly claims: Map<number, ChunkClaim>;
  readonly hashes: Map<string, Uint8Array>;
}

/** A session as read from the bucket (or this process's current view of it). */
export interface LoadedState {
  readonly record: SessionRecord;
  readonly cached: CachedSession;
  /** Chunk-claim offsets, ascending (a trailing seal excluded). */
  readonly offsets: readonly number[];
  readonly size: number;
  readonly sealed: boolean;
  readonly updatedAt: Date;
  readonly last: ChunkClaim | undefined;
}

/** Settings of {@link SessionLog}. */
export interface SessionLogSettings {
  readonly minPartSize: number;
  readonly concurrency: number;
  readonly conditionalWrites: boolean | 'auto';
}

const CACHE_LIMIT = 512;
/** Rounds of the marker-and-list claim before a contended writer gives up (with a 416). */
const LISTED_CLAIM_ATTEMPTS = 8;

/**
 * The session log: a session's record (`session`) and its claims (`c/<offset>`, one per chunk and
 * a final seal), from which its size and staged segments follow; hash states (`h/<alg>/<offset>`)
 * next to them. Claims are immutable once written (a seal may be withdrawn by a failed commit),
 * so this process caches what it has seen and reads only what is new.
 */
export class SessionLog {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #settings: SessionLogSettings;
  readonly #cache = new Map<string, CachedSession>();
  /** Hash states being written, per session (see {@link saveHashState}). */
  readonly #saving = new Map<string, Promise<void>>();
  #probe: Promise<ClaimMode> | undefined;

  constructor(store: ObjectStore, keys: Keys, settings: SessionLogSettings) {
    this.#store = store;
    this.#keys = keys;
    this.#settings = settings;
  }

  /** Forgets every cached session. */
  clear(): void {
    this.#cache.clear();
  }

  /** Forgets one session (it ended, or this process's view of it is wrong). */
  forget(id: string): void {
    this.#cache.delete(id);
  }

  #remember(id: string, cached: CachedSession): void {
    this.#cache.delete(id);
    this.#cache.set(id, cached);
    if (this.#cache.size > CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
  }

  claimKey(id: string, offset: number): string {
    return `${this.#keys.upload(id)}c/${pad(offset)}`;
  }

  sessionKey(id: string): string {
    return `${this.#keys.upload(id)}session`;
  }

  /** Writes a new session's record. */
  async create(init: { id: string; repository: string; algorithm: string }): Promise<SessionRecord> {
    const record: SessionRecord = {
      id: init.id,
      repository: init.repository,
      algorithm: init.algorithm,
      createdAt: new Date().toISOString(),
      claims: await this.#claimMode(),
    };
    await putRecord(this.#store, this.sessionKey(init.id), json(record));
    this.#remember(init.id, { record, offsets: [], claims: new Map(), hashes: new Map() });
    return record;
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

  /**
   * The session's record, size and last chunk, or `null` when it does not exist. Two requests in
   * parallel (record, claim listing after the last known claim), plus the last claim when this
   * process has not seen it.
   */
  async load(id: string): Promise<LoadedState | null> {
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
        const claim = await getJson<Claim>(this.#store, `${claimPrefix}${pad(next)}`);
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
    const known = this.#cache.get(id);
    const [record, listed] = await Promise.all([
      known
        ? this.#store.head(this.sessionKey(id)).then((head) => (head ? known.record : null))
        : getJson<SessionRecord>(this.#store, this.sessionKey(id)),
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
      const claim = cached.claims.get(tail) ?? (await getJson<Claim>(this.#store, this.claimKey(id, tail)));
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

  /**
   * The session as this process last saw it, when that is complete enough to append at `offset`.
   * Safe to act on: if the session moved on since, the claim fails and the caller reloads.
   */
  cachedState(id: string, offset: number): LoadedState | undefined {
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

  /** A chunk claim, from the cache or the bucket. */
  async #chunk(id: string, cached: CachedSession, offset: number): Promise<ChunkClaim | null> {
    const hit = cached.claims.get(offset);
    if (hit) return hit;
    const claim = await getJson<Claim>(this.#store, this.claimKey(id, offset));
    if (claim?.kind !== 'chunk') return null;
    cached.claims.set(offset, claim);
    return claim;
  }

  /** Every chunk claim of a loaded session, in order. */
  async chunks(id: string, state: LoadedState): Promise<ChunkClaim[]> {
    const claims = await mapLimit(state.offsets, this.#settings.concurrency, (offset) =>
      this.#chunk(id, state.cached, offset),
    );
    if (claims.some((c) => c === null)) throw new Error(`upload ${id} changed while being read`);
    return claims as ChunkClaim[];
  }

  /** The trailing segments smaller than the minimum part size (their total is below it too). */
  async trailingRun(id: string, state: LoadedState): Promise<Segment[]> {
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

  /**
   * Claims `claim.offset`; resolves whether this writer got it. A 412 whose claim carries our own
   * token is a retried request that had in fact succeeded.
   */
  async claim(id: string, record: SessionRecord, claim: Claim): Promise<boolean> {
    const key = this.claimKey(id, claim.offset);
    if (record.claims === 'conditional') {
      if (await putRecord(this.#store, key, json(claim), { ifNoneMatch: true })) return true;
      const existing = await getJson<Claim>(this.#store, key);
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
          await putRecord(this.#store, key, json(claim));
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

  /** Records a chunk this process claimed; resolves the state after it. */
  appended(state: LoadedState, claim: ChunkClaim): LoadedState {
    const { cached } = state;
    cached.claims.set(claim.offset, claim);
    if (cached.offsets[cached.offsets.length - 1] !== claim.offset) cached.offsets.push(claim.offset);
    return {
      ...state,
      offsets: [...state.offsets, claim.offset],
      size: claim.offset + claim.length,
      updatedAt: new Date(claim.at),
      last: claim,
    };
  }

  /**
   * Saves a hash state (`h/<alg>/<offset>`) behind the response: the write is started, and this
   * process's cache answers at once. The contract lets a saved state lag (another replica then
   * re-hashes from an older one), so the PATCH's 202 need not wait for one more round trip.
   * Commits and cancels of the session here wait for it ({@link settle}).
   */
  async saveHashState(id: string, state: HashState): Promise<void> {
    const relative = `${state.algorithm}/${pad(state.offset)}`;
    const bytes = new Uint8Array(state.state);
    const cached = this.#cache.get(id);
    if (cached) {
      cached.hashes.clear();
      cached.hashes.set(relative, bytes);
    }
    const previous = this.#saving.get(id);
    const saving = (async () => {
      await previous;
      await quietly(() => putRecord(this.#store, `${this.#keys.upload(id)}h/${relative}`, bytes));
    })();
    this.#saving.set(id, saving);
    void saving.finally(() => {
      if (this.#saving.get(id) === saving) this.#saving.delete(id);
    });
  }

  /** Waits for the hash states of a session (or of all sessions) still being written. */
  async settle(id?: string): Promise<void> {
    if (id !== undefined) await this.#saving.get(id);
    else await Promise.all(this.#saving.values());
  }

  /** The most advanced saved hash state at or below the session's size. */
  async hashState(id: string, state: LoadedState): Promise<HashState | null> {
    const { size, record, cached } = state;
    if (size === 0) return null;
    const dir = `${this.#keys.upload(id)}h/`;
    const direct = `${record.algorithm}/${pad(size)}`;
    let bytes: Uint8Array | null | undefined = cached.hashes.get(direct);
    if (!bytes) bytes = await getRecord(this.#store, `${dir}${direct}`);
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
    const found = await getRecord(this.#store, best.key);
    return found ? { algorithm: best.algorithm, offset: best.offset, state: found } : null;
  }

  /**
   * Every key a session can hold, known from its claims without a listing: record, claims and
   * seal, segments, hash states at chunk ends and the ones saved here.
   */
  keysOf(id: string, state: LoadedState): string[] {
    const dir = this.#keys.upload(id);
    const keys = new Set([this.sessionKey(id), this.claimKey(id, state.size)]);
    for (const offset of state.offsets) {
      const claim = state.cached.claims.get(offset);
      keys.add(this.claimKey(id, offset));
      if (!claim) continue;
      keys.add(`${dir}${claim.segment.key}`);
      keys.add(`${dir}h/${state.record.algorithm}/${pad(claim.offset + claim.length)}`);
    }
    for (const relative of state.cached.hashes.keys()) keys.add(`${dir}h/${relative}`);
    return [...keys];
  }
}

/** What core sees of a session. */
export function snapshot(state: LoadedState, hashState: HashState | null): UploadSession {
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
