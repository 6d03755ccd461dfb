import {
  type ByteWindow,
  type HashState,
  type Leftover,
  type LeftoverOptions,
  OffsetMismatchError,
  type UploadAppendOptions,
  type UploadCommitOptions,
  UploadNotFoundError,
  type UploadSession,
  type UploadStore,
} from '@wharf/core';
import type { FactCache } from './cache/facts.js';
import type { Keys } from './keys.js';
import type { ObjectStore } from './objects/types.js';
import { appendChunk } from './uploads/append.js';
import { Composer } from './uploads/compose.js';
import { layoutOf, type SealClaim, token } from './uploads/records.js';
import { type LoadedState, SessionLog, snapshot } from './uploads/session-log.js';
import { type KeyedLock, mapLimit, quietly, streamBody, throwIfAborted } from './util.js';
import { type BufferPool, listAllMultipart, listPrefixes, purge } from './writer.js';

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
  /** Shared with the blob store: blob sizes known in this process. */
  readonly facts: FactCache;
}

/**
 * {@link UploadStore} keeping every session in the bucket (`_wharf/uploads/<id>/`), so any
 * replica continues any upload:
 *
 * - `session`: the record; `c/<offset>`: one claim per chunk; `h/<alg>/<offset>`: hash states;
 *   `s/<start>-<token>`: staged segments; `p/…`, `m/…`: claim markers and commit intermediates
 *   (the session log, `uploads/session-log.ts`).
 * - A PATCH streams its body into a new segment, then claims its offset atomically
 *   (`uploads/append.ts`).
 * - A commit seals the session (a claim at its size, so stale appends fail), concatenates the
 *   segments into the blob key on the server (`uploads/compose.ts`), and then deletes the session.
 */
export class S3UploadStore implements UploadStore {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #settings: S3UploadSettings;
  readonly #log: SessionLog;
  readonly #composer: Composer;
  /** Chunks of at least the minimum part size are staged without being read back. */
  readonly minChunkLength: number;

  constructor(store: ObjectStore, keys: Keys, settings: S3UploadSettings) {
    this.minChunkLength = settings.minPartSize;
    this.#store = store;
    this.#keys = keys;
    this.#settings = settings;
    this.#log = new SessionLog(store, keys, settings);
    this.#composer = new Composer(store, settings);
  }

  /** Waits for writes still running behind responses, and forgets cached session facts. */
  async close(): Promise<void> {
    await this.#log.settle();
    this.#log.clear();
  }

  async create(init: { id: string; repository: string; algorithm: string }): Promise<UploadSession> {
    const record = await this.#log.create(init);
    const createdAt = new Date(record.createdAt);
    return { ...init, size: 0, createdAt, updatedAt: createdAt, hashState: null };
  }

  async get(id: string): Promise<UploadSession | null> {
    const state = await this.#log.load(id);
    return state ? snapshot(state, await this.#log.hashState(id, state)) : null;
  }

  append(id: string, options: UploadAppendOptions): Promise<UploadSession> {
    const { buffers, minPartSize, partsInFlight } = this.#settings;
    return appendChunk(
      { store: this.#store, keys: this.#keys, log: this.#log, buffers, minPartSize, partsInFlight },
      id,
      options,
    );
  }

  /**
   * Core saves right after a chunk was accepted, so the session is known to exist; a state saved
   * into a session deleted meanwhile (by another replica) is swept with it by the session listing.
   */
  saveHashState(id: string, state: HashState): Promise<void> {
    return this.#log.saveHashState(id, state);
  }

  async *read(id: string, window: ByteWindow, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const state = await this.#log.load(id);
    if (!state) throw new UploadNotFoundError(id);
    const segments = layoutOf(await this.#log.chunks(id, state), state.size);
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
    const log = this.#log;
    await log.settle(id);
    // Core has just read the session, so this process's view is usually current; the seal below
    // validates it (a session that moved on refuses the seal).
    let state: LoadedState | null = log.cachedState(id, size) ?? (await log.load(id));
    if (!state) throw new UploadNotFoundError(id);
    if (state.size !== size) throw new OffsetMismatchError(state.size, 'upload size changed before commit');
    const blobKey = this.#keys.blob(digest);

    // At once: seal (appends racing with this commit now fail instead of being lost), check that
    // the session still exists, and look for the blob.
    const seal: SealClaim = { kind: 'seal', offset: size, writer: token(), at: Date.now() };
    const [sealedHere, exists, blob] = await Promise.all([
      state.sealed ? false : log.claim(id, state.record, seal),
      this.#store.head(log.sessionKey(id)),
      this.#store.head(blobKey),
    ]);
    const unseal = async (): Promise<void> => {
      if (sealedHere) await quietly(() => this.#store.delete([log.claimKey(id, size)]));
    };
    if (!exists) {
      await unseal();
      log.forget(id);
      // Another commit of this session finished first.
      if (blob?.size === size) return;
      throw new UploadNotFoundError(id);
    }
    if (!state.sealed && !sealedHere) {
      const now = await log.load(id);
      if (!now) {
        if ((await this.#store.head(blobKey))?.size === size) return;
        throw new UploadNotFoundError(id);
      }
      if (now.size !== size || !now.sealed) throw new OffsetMismatchError(now.size);
      state = now;
    }
    const segments = layoutOf(await log.chunks(id, state), size);

    const ticket = this.#settings.facts.ticket();
    try {
      throwIfAborted(signal);
      await this.#composer.materialize({
        dir: this.#keys.upload(id),
        segments,
        size,
        blobKey,
        touchedKey: this.#keys.blobTouched(digest),
        blob,
        signal,
      });
    } catch (error) {
      // Another commit of the same content (maybe of this very session) may have won the race.
      const again = await this.#store.head(blobKey).catch(() => null);
      if (again?.size !== size) {
        await unseal();
        throw error;
      }
    }
    this.#settings.facts.set(ticket, 'blob', digest, size);
    // One request removes the session: every object it can have is known from its claims.
    // Anything else left by a writer racing the commit is swept by the session listing, since the
    // record is gone.
    const keys = log.keysOf(id, state);
    log.forget(id);
    await this.#store.delete(keys);
  }

  /**
   * Removes a session: the record first (the session ends there), then whatever is under it.
   * Writers check the record after adding anything, so what they add later they take back
   * themselves; what a crash leaves is swept by the session listing.
   */
  async delete(id: string): Promise<boolean> {
    await this.#log.settle(id);
    const record = this.#log.sessionKey(id);
    const existed = (await this.#store.head(record)) !== null;
    this.#log.forget(id);
    if (existed) await this.#store.delete([record]);
    await purge(this.#store, this.#keys.upload(id));
    return existed;
  }

  /**
   * Aborts incomplete multipart uploads anywhere under the registry's prefix that were started
   * before `othersBefore` and that no live session owns: a blob write or a commit's composition
   * that a crash interrupted (on the blob's key), or a chunk of a session that is gone. S3 keeps
   * their parts, and bills them, until someone aborts them. Uploads under a live session's
   * directory are that session's; reaping or deleting the session aborts them. CNCF distribution's
   * own upload directories (`repositories/<name>/_uploads/`, in a shared bucket) are its purger's.
   */
  async reapLeftovers(options: LeftoverOptions): Promise<Leftover[]> {
    const live = new Map<string, Promise<boolean>>();
    const owner = (key: string): string | undefined => {
      if (!key.startsWith(this.#keys.uploads)) return undefined;
      return key.slice(this.#keys.uploads.length).split('/', 1)[0];
    };
    const reaped: Leftover[] = [];
    const uploads = await listAllMultipart(this.#store, this.#keys.root);
    await mapLimit(uploads, this.#settings.concurrency, async (upload) => {
      throwIfAborted(options.signal);
      if (upload.initiated >= options.othersBefore || upload.key.includes('/_uploads/')) return;
      const id = owner(upload.key);
      if (id !== undefined) {
        if (!live.has(id))
          live.set(
            id,
            this.#store.head(this.#log.sessionKey(id)).then((head) => head !== null),
          );
        if (await live.get(id)) return;
      }
      if (!options.dryRun) await this.#store.abortMultipart(upload.key, upload.uploadId);
      reaped.push({ description: `incomplete multipart upload of ${upload.key}`, size: 0 });
    });
    return reaped;
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
