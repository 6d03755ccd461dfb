import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ByteWindow,
  type HashState,
  InvalidKeyError,
  isDigestAlgorithm,
  isRepositoryName,
  type Leftover,
  type LeftoverOptions,
  OffsetMismatchError,
  type UploadAppendOptions,
  type UploadCommitOptions,
  type UploadSession,
  type UploadStore,
} from '@wharf/core';
import type { FsBlobStore } from './blob-store.js';
import { Cache } from './cache.js';
import { isMissing } from './errors.js';
import { noop } from './file-io.js';
import type { Io } from './io.js';
import { isUploadId, type Layout, uniqueSuffix } from './layout.js';
import { assembleSession } from './uploads/assemble.js';
import { reapUploadLeftovers } from './uploads/leftovers.js';
import { ChunkMerges } from './uploads/merges.js';
import { readStaged } from './uploads/read.js';
import {
  bootId,
  claimChunk,
  hashStateName,
  readHashState,
  readInfo,
  type Scan,
  type SessionInfo,
  scanSession,
  unknownUpload,
  writeHashState,
  writeInfo,
} from './uploads/session-dir.js';

/** Records kept in memory. Both kinds never change once written, so the caches are pure optimisations. */
const INFO_CACHE_SIZE = 4096;
const STATE_CACHE_SIZE = 1024;
const SCAN_CACHE_SIZE = 1024;

/**
 * Upload sessions, one flat directory each under `_wharf/uploads/<id>/` (one readdir tells
 * everything about a session):
 *
 * - `info`: repository, algorithm, creation time (JSON, written once);
 * - `chunk-<offset>`: the staged bytes, one file per accepted chunk. A chunk is streamed into a
 *   private temporary file and claimed only when complete and synced, by link(2) to its offset:
 *   link fails if the name exists, so of two writers at one offset exactly one wins, and nothing
 *   a loser (or a crash) leaves behind is ever part of the session. The staged size is the last
 *   chunk's offset plus its length, derived from durable state alone;
 * - `hash-<offset>.<alg>`: saved hasher states (checksummed, so a torn one is ignored);
 * - `merged-<offset>`: an empty marker saying that the chunk at that offset is also durably
 *   copied into the first chunk's file, at its offset.
 *
 * After a chunk is claimed and acknowledged, it is copied into the first chunk's file in the
 * background (the first chunk's file is the future blob). Only the winner of the claim at offset
 * X ever writes region [X, X+length) of that file, and a commit only ever writes the same bytes
 * there, so copies never collide; the marker is created only after the copy is synced, so a
 * present marker (even after power loss) means the region holds exactly the chunk's bytes. The
 * first chunk's own bytes, [0, second offset), are never touched.
 *
 * Commit claims the whole session by renaming its directory away (one of several racing commits
 * wins, and late appends fail), copies into the first chunk's file only the chunks not marked
 * merged (usually none: a single chunk, or merges that kept up, cost no copy), and renames it into
 * the blob store.
 */
export class FsUploadStore implements UploadStore {
  readonly #layout: Layout;
  readonly #io: Io;
  readonly #blobs: FsBlobStore;
  readonly #infos = new Cache<SessionInfo>(INFO_CACHE_SIZE);
  readonly #states = new Cache<HashState>(STATE_CACHE_SIZE);
  /**
   * The last listing of each session seen here. Staged sizes only grow, so an old observation that
   * `size == offset` is as good as a fresh one for admitting a chunk: the link(2) claim refuses it
   * if another writer extended the session since. (get() always lists afresh.)
   */
  readonly #scans = new Cache<Scan>(SCAN_CACHE_SIZE);
  /** Background merges running in this process (a pure optimisation). */
  readonly #merges: ChunkMerges;

  /** Whether chunks are flushed to disk before their 202 (else only blobs, before their 201). */
  readonly #syncChunks: boolean;

  constructor(layout: Layout, io: Io, blobs: FsBlobStore, syncChunks: boolean) {
    this.#layout = layout;
    this.#io = io;
    this.#blobs = blobs;
    this.#syncChunks = syncChunks && io.sync;
    this.#merges = new ChunkMerges(io, this.#syncChunks);
  }

  async create(init: { id: string; repository: string; algorithm: string }): Promise<UploadSession> {
    const dir = this.#layout.upload(init.id);
    if (!dir) throw new InvalidKeyError('upload', init.id);
    if (!isRepositoryName(init.repository)) throw new InvalidKeyError('repository', init.repository);
    if (!isDigestAlgorithm(init.algorithm)) throw new InvalidKeyError('digest', init.algorithm);
    const info: SessionInfo = {
      repository: init.repository,
      algorithm: init.algorithm,
      createdAt: new Date(),
      ...(this.#syncChunks ? {} : { boot: bootId() }),
    };
    const { fs } = this.#io;
    try {
      await fs.mkdir(dir);
    } catch (error) {
      if (!isMissing(error)) throw error;
      await fs.mkdir(this.#layout.uploadsDir, { recursive: true });
      await fs.mkdir(dir);
    }
    // A directory without `info` is no session (a crash here leaves one; list() reaps it).
    try {
      await writeInfo(this.#io, dir, init.id, info);
    } catch (error) {
      await this.#io.discard(dir);
      throw error;
    }
    this.#infos.set(init.id, info);
    return { id: init.id, ...info, size: 0, updatedAt: info.createdAt, hashState: null };
  }

  async get(id: string): Promise<UploadSession | null> {
    const dir = this.#layout.upload(id);
    if (!dir) return null;
    const scan = await scanSession(this.#io, dir);
    if (!scan) {
      this.#forget(id);
      return null;
    }
    const info = await this.#info(id, dir);
    if (!info) return null;
    this.#scans.set(id, scan);
    return this.#session(id, dir, info, scan, scan.size);
  }

  /**
   * The session's chunks: the cached scan when it ends at `size` (what the caller expects), else a
   * fresh one, which the caller then checks against `size`.
   */
  async #scanAt(id: string, dir: string, size: number): Promise<Scan> {
    const cached = this.#scans.get(id);
    if (cached?.size === size) return cached;
    const scan = await scanSession(this.#io, dir);
    if (!scan) throw unknownUpload();
    return scan;
  }

  async append(id: string, options: UploadAppendOptions): Promise<UploadSession> {
    const dir = this.#layout.upload(id);
    if (!dir) throw unknownUpload();
    const { offset } = options;
    const scan = await this.#scanAt(id, dir, offset);
    // The only check that can refuse an offset beyond the end; the claim below settles races.
    if (scan.size !== offset) throw new OffsetMismatchError(scan.size);
    const info = await this.#info(id, dir);
    if (!info) throw unknownUpload();

    const { fs } = this.#io;
    const temp = join(dir, `.part-${uniqueSuffix()}`);
    let handle: FileHandle;
    try {
      handle = await fs.open(temp, 'wx');
    } catch (error) {
      if (isMissing(error)) throw unknownUpload();
      throw error;
    }
    let written: number;
    try {
      try {
        written = await this.#io.writeStream(handle, options.body, options.signal);
        if (written > 0 && this.#syncChunks) await this.#io.datasync(handle);
      } finally {
        await handle.close();
      }
      if (written > 0) await claimChunk(this.#io, dir, temp, offset);
    } finally {
      await fs.unlink(temp).catch(noop);
    }
    if (written === 0) {
      // Nothing to claim, but the offset must still be the session's end.
      const now = await scanSession(this.#io, dir);
      if (!now) throw unknownUpload();
      if (now.size !== offset) throw new OffsetMismatchError(now.size);
    } else if (this.#syncChunks) {
      // The claim must survive power loss before the chunk is acknowledged.
      await this.#io.syncDir(dir).catch((error: unknown) => {
        // A commit that already took the session over makes its own data durable.
        if (!isMissing(error)) throw error;
      });
    }
    let appendedAt = scan.appendedAt;
    if (written > 0) {
      appendedAt = new Date();
      this.#scans.set(id, {
        offsets: [...scan.offsets, offset],
        size: offset + written,
        appendedAt,
        states: scan.states,
        merged: scan.merged,
      });
      const first = scan.offsets[0];
      if (first !== undefined) this.#merges.schedule(id, dir, first, offset, written);
    }
    // No state can have been saved past the old end meanwhile: only this append's winner saves one.
    return this.#session(id, dir, info, scan, offset + written, appendedAt);
  }

  /** Waits for every background merge of this process (before closing). */
  settle(): Promise<void> {
    return this.#merges.settleAll();
  }

  async saveHashState(id: string, state: HashState): Promise<void> {
    const dir = this.#layout.upload(id);
    if (
      !dir ||
      !isDigestAlgorithm(state.algorithm) ||
      !Number.isSafeInteger(state.offset) ||
      state.offset < 0
    ) {
      return;
    }
    const name = hashStateName(state.offset, state.algorithm);
    // Best effort: a session that has gone away needs no state.
    if (!(await writeHashState(this.#io, dir, name, state.state))) return;
    const saved: HashState = {
      algorithm: state.algorithm,
      offset: state.offset,
      state: new Uint8Array(state.state),
    };
    this.#states.set(`${id}/${name}`, saved);
    const scan = this.#scans.get(id);
    if (scan && state.offset <= scan.size) {
      const states = [[state.offset, state.algorithm, name] as const, ...scan.states];
      this.#scans.set(id, { ...scan, states: states.sort((a, b) => b[0] - a[0]) });
    }
  }

  async *read(id: string, window: ByteWindow, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const dir = this.#layout.upload(id);
    if (!dir) throw unknownUpload();
    yield* readStaged(this.#io, dir, window, signal);
  }

  async commit(id: string, options: UploadCommitOptions): Promise<void> {
    const dir = this.#layout.upload(id);
    if (!dir) throw unknownUpload();
    this.#layout.digest(options.digest);
    // A stale listing is harmless here: the claimed directory is listed again before anything changes.
    const before = await this.#scanAt(id, dir, options.size);
    if (before.size !== options.size) {
      throw new OffsetMismatchError(before.size, 'upload size changed before commit');
    }
    if (!(await this.#info(id, dir))) throw unknownUpload();
    // Merges this process still runs are cheaper to finish than to redo (their markers must be
    // created before the directory moves).
    await this.#merges.settle(id);
    // Take the session over: of racing commits (or a commit and a delete) exactly one wins, and
    // no append can claim a chunk any more.
    const claimed = this.#io.temp('commit');
    try {
      await this.#io.fs.rename(dir, claimed);
    } catch (error) {
      if (isMissing(error)) throw unknownUpload();
      throw error;
    }
    let installed = false;
    try {
      const scan = await scanSession(this.#io, claimed);
      if (!scan) throw unknownUpload();
      if (scan.size !== options.size) {
        throw new OffsetMismatchError(scan.size, 'upload size changed before commit');
      }
      // Another upload of the same content may have committed it already: the bytes are equal.
      if (!(await this.#blobs.refresh(options.digest, options.size))) {
        const prepared = this.#blobs.prepare(options.digest);
        prepared.catch(noop);
        try {
          const file = await assembleSession(this.#io, claimed, scan, this.#syncChunks, options.signal);
          await prepared;
          await this.#blobs.install(options.digest, file, () => {
            installed = true;
          });
        } catch (error) {
          await prepared.catch(noop);
          if (!installed) await this.#blobs.unprepare(options.digest);
          throw error;
        }
      }
    } catch (error) {
      // Give the session back so the client can retry or resume (unless its bytes already became
      // the blob); if even that fails, free it.
      if (installed) await this.#io.discard(claimed);
      else await this.#io.fs.rename(claimed, dir).catch(() => this.#io.discard(claimed));
      throw error;
    }
    this.#forget(id);
    await this.#io.discard(claimed);
  }

  #forget(id: string): void {
    this.#infos.delete(id);
    this.#scans.delete(id);
  }

  async delete(id: string): Promise<boolean> {
    const dir = this.#layout.upload(id);
    if (!dir) return false;
    const trash = this.#io.temp('trash');
    try {
      await this.#io.fs.rename(dir, trash);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    this.#forget(id);
    // Its merges would only copy bytes nobody needs any more.
    this.#merges.stop(id);
    await this.#io.discard(trash);
    return true;
  }

  async *list(): AsyncIterable<UploadSession> {
    for (const id of await this.#io.list(this.#layout.uploadsDir)) {
      if (!isUploadId(id)) continue;
      const session = await this.get(id);
      if (session) yield session;
    }
  }

  /** See `reapUploadLeftovers` (uploads/leftovers.ts). */
  reapLeftovers(options: LeftoverOptions): Promise<Leftover[]> {
    return reapUploadLeftovers(this.#io, this.#layout, (id, dir) => this.#info(id, dir), options);
  }

  /** Drops the in-memory caches (they hold nothing that is not on disk). */
  forget(): void {
    this.#infos.clear();
    this.#states.clear();
    this.#scans.clear();
  }

  async #info(id: string, dir: string): Promise<SessionInfo | null> {
    const cached = this.#infos.get(id);
    if (cached) return cached;
    const info = await readInfo(this.#io, dir);
    if (info) this.#infos.set(id, info);
    return info;
  }

  async #session(
    id: string,
    dir: string,
    info: SessionInfo,
    scan: Scan,
    size: number,
    updatedAt?: Date,
  ): Promise<UploadSession> {
    const appended = updatedAt ?? scan.appendedAt;
    return {
      id,
      repository: info.repository,
      algorithm: info.algorithm,
      size,
      createdAt: info.createdAt,
      updatedAt: appended && appended > info.createdAt ? appended : info.createdAt,
      hashState: await this.#hashState(id, dir, scan, size),
    };
  }

  /** The most advanced intact hash state with `offset <= size`. */
  async #hashState(id: string, dir: string, scan: Scan, size: number): Promise<HashState | null> {
    for (const [offset, algorithm, name] of scan.states) {
      if (offset > size) continue;
      const cached = this.#states.get(`${id}/${name}`);
      if (cached) return cached;
      const found = await readHashState(this.#io, dir, name, offset, algorithm);
      if (!found) continue;
      this.#states.set(`${id}/${name}`, found);
      return found;
    }
    return null;
  }
}
