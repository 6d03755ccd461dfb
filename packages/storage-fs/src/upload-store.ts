import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join, relative } from 'node:path';
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
  UploadNotFoundError,
  type UploadSession,
  type UploadStore,
} from '@wharf/core';
import type { FsBlobStore } from './blob-store.js';
import { Cache } from './cache.js';
import { errorCode, type Io, isMissing, noop } from './io.js';
import { isUploadId, type Layout, uniqueSuffix } from './layout.js';

/** The immutable part of a session, written once at creation. */
interface SessionInfo {
  readonly repository: string;
  readonly algorithm: string;
  readonly createdAt: Date;
  /**
   * The boot the session's chunks were written in, when they are not flushed before their 202
   * (see {@link FsUploadStore}): after a power loss they may be torn, so the session then ends.
   */
  readonly boot?: string;
}

/** What one listing of a session directory says. */
interface Scan {
  /** Claimed chunk offsets, ascending. */
  readonly offsets: number[];
  /** Bytes staged: the last chunk's offset plus its length. */
  readonly size: number;
  /** When the last chunk was claimed (link(2) sets its ctime). */
  readonly appendedAt: Date | undefined;
  /** Saved hash states as `[offset, algorithm, file name]`, most advanced first. */
  readonly states: Array<readonly [number, string, string]>;
  /** Offsets of chunks whose bytes are durably merged into the first chunk's file. */
  readonly merged: ReadonlySet<number>;
}

/** Records kept in memory. Both kinds never change once written, so the caches are pure optimisations. */
const INFO_CACHE_SIZE = 4096;
const STATE_CACHE_SIZE = 1024;
const SCAN_CACHE_SIZE = 1024;
/** Hash-state files end with the sha256 of the state, so a torn write is detected and ignored. */
const CHECKSUM_LENGTH = 32;
const INFO = 'info';
const CHUNK = /^chunk-(\d+)$/;
const MERGED = /^merged-(\d+)$/;
const HASH_STATE = /^hash-(\d+)\.([a-z0-9]+)$/;

let boot: string | undefined;

/**
 * This boot of the machine: the kernel's boot id on Linux, else the boot time to the minute.
 * Read once per process.
 */
function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = String(Math.round((Date.now() - uptime() * 1000) / 60_000));
    }
  }
  return boot;
}

function unknownUpload(): UploadNotFoundError {
  return new UploadNotFoundError();
}

function chunkName(offset: number): string {
  return `chunk-${offset}`;
}

function mergedName(offset: number): string {
  return `merged-${offset}`;
}

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
  /** Background merges running in this process, chained per session (a pure optimisation). */
  readonly #merges = new Map<string, { readonly done: Promise<void>; readonly stop: AbortController }>();

  /** Whether chunks are flushed to disk before their 202 (else only blobs, before their 201). */
  readonly #syncChunks: boolean;

  constructor(layout: Layout, io: Io, blobs: FsBlobStore, syncChunks: boolean) {
    this.#layout = layout;
    this.#io = io;
    this.#blobs = blobs;
    this.#syncChunks = syncChunks && io.sync;
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
    // A directory without `info` is no session (a crash here leaves one; list() reaps it). Not
    // synced: nothing was acknowledged yet, and the first chunk's directory sync covers it.
    try {
      const handle = await fs.open(join(dir, INFO), 'wx');
      try {
        await handle.writeFile(
          JSON.stringify({ id: init.id, ...info, createdAt: info.createdAt.toISOString() }),
        );
      } finally {
        await handle.close();
      }
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
    const scan = await this.#scan(dir);
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
    const scan = await this.#scan(dir);
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
      if (written > 0) await this.#claim(dir, temp, offset);
    } finally {
      await fs.unlink(temp).catch(noop);
    }
    if (written === 0) {
      // Nothing to claim, but the offset must still be the session's end.
      const now = await this.#scan(dir);
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
      if (first !== undefined) this.#scheduleMerge(id, dir, first, offset, written);
    }
    // No state can have been saved past the old end meanwhile: only this append's winner saves one.
    return this.#session(id, dir, info, scan, offset + written, appendedAt);
  }

  /**
   * Copies a claimed chunk into the first chunk's file after the current request (merges of one
   * session run one after the other). Best effort: a merge that fails or is interrupted leaves no
   * marker, and the commit copies that chunk itself.
   */
  #scheduleMerge(id: string, dir: string, first: number, offset: number, length: number): void {
    const previous = this.#merges.get(id);
    const stop = previous?.stop ?? new AbortController();
    const done = (previous?.done ?? Promise.resolve())
      .then(() => this.#merge(dir, first, offset, length, stop.signal))
      .catch(noop)
      .finally(() => {
        if (this.#merges.get(id)?.done === done) this.#merges.delete(id);
      });
    this.#merges.set(id, { done, stop });
  }

  async #merge(
    dir: string,
    first: number,
    offset: number,
    length: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { fs } = this.#io;
    signal.throwIfAborted();
    const target = await fs.open(join(dir, chunkName(first)), 'r+');
    try {
      await this.#io.copyInto(join(dir, chunkName(offset)), 0, length, target, offset, signal);
      if (this.#syncChunks) await this.#io.datasync(target);
    } finally {
      await target.close();
    }
    // Only now: a marker that exists (whatever survived a crash) vouches for the copied bytes
    // (synced ones, when chunks are synced; otherwise a power loss ends the session anyway).
    try {
      await (await fs.open(join(dir, mergedName(offset)), 'wx')).close();
    } catch (error) {
      // The session was committed or deleted meanwhile.
      if (isMissing(error)) return;
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    // Once the marker is durable the chunk's own copy is redundant: free its pages and blocks.
    if (this.#syncChunks) await this.#io.syncDir(dir);
    await this.#hollow(dir, offset, length);
  }

  /**
   * Atomically replaces a merged chunk's file by a sparse one of the same length (no data): the
   * name, which is the claim, never disappears, and the staged size stays derivable from it.
   */
  async #hollow(dir: string, offset: number, length: number): Promise<void> {
    const { fs } = this.#io;
    const temp = join(dir, `.hollow-${uniqueSuffix()}`);
    try {
      const handle = await fs.open(temp, 'wx');
      try {
        await handle.truncate(length);
      } finally {
        await handle.close();
      }
      await fs.rename(temp, join(dir, chunkName(offset)));
    } catch (error) {
      await fs.unlink(temp).catch(noop);
      if (!isMissing(error)) throw error;
    }
  }

  /** Waits for this process's background merges of a session. */
  async #settle(id: string): Promise<void> {
    await this.#merges.get(id)?.done;
  }

  /** Waits for every background merge of this process (before closing). */
  async settle(): Promise<void> {
    while (this.#merges.size > 0) await Promise.all([...this.#merges.values()].map((merge) => merge.done));
  }

  /** Publishes a complete chunk file as `chunk-<offset>`, or fails if another writer got there first. */
  async #claim(dir: string, temp: string, offset: number): Promise<void> {
    try {
      await this.#io.fs.link(temp, join(dir, chunkName(offset)));
    } catch (error) {
      if (errorCode(error) === 'EEXIST') {
        const now = await this.#scan(dir);
        if (!now) throw unknownUpload();
        throw new OffsetMismatchError(now.size);
      }
      if (isMissing(error)) throw unknownUpload();
      throw error;
    }
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
    const name = `hash-${state.offset}.${state.algorithm}`;
    const checksum = createHash('sha256').update(state.state).digest();
    try {
      // Written in place and not synced: only the winner of the chunk ending at this offset saves
      // it, and a state a reader catches half-written, or a crash tore, fails its checksum and is
      // skipped (core then re-hashes the gap from an older state).
      const handle = await this.#io.fs.open(join(dir, name), 'w');
      try {
        await handle.writev([state.state, checksum]);
      } finally {
        await handle.close();
      }
    } catch (error) {
      // Best effort: a session that has gone away needs no state.
      if (isMissing(error)) return;
      throw error;
    }
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
    const scan = await this.#scan(dir);
    if (!scan) throw unknownUpload();
    const end = window.offset + window.length;
    const { offsets } = scan;
    for (let i = 0; i < offsets.length; i++) {
      const start = offsets[i]!;
      const stop = offsets[i + 1] ?? scan.size;
      if (stop <= window.offset) continue;
      if (start >= end) break;
      const from = Math.max(window.offset, start);
      const to = Math.min(end, stop);
      try {
        yield* this.#readChunk(dir, scan, i, from, to, signal);
      } catch (error) {
        if (isMissing(error)) throw unknownUpload();
        throw error;
      }
    }
  }

  /**
   * Bytes [from, to) of the i-th chunk. A merged chunk's bytes are read from the first chunk's
   * file, since its own file may have been hollowed. The marker is checked after opening the
   * chunk's file: a file hollowed before it was opened had its marker created before that.
   */
  async *#readChunk(
    dir: string,
    scan: Scan,
    i: number,
    from: number,
    to: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer> {
    const start = scan.offsets[i]!;
    const whole = join(dir, chunkName(scan.offsets[0]!));
    if (i > 0 && scan.merged.has(start)) {
      yield* this.#io.readRange(whole, from, to - from, signal);
      return;
    }
    const handle = await this.#io.fs.open(join(dir, chunkName(start)), 'r');
    try {
      if (i === 0 || !(await this.#io.exists(join(dir, mergedName(start))))) {
        yield* this.#io.readHandle(handle, from - start, to - from, signal);
        return;
      }
    } finally {
      await handle.close();
    }
    yield* this.#io.readRange(whole, from, to - from, signal);
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
    await this.#settle(id);
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
      const scan = await this.#scan(claimed);
      if (!scan) throw unknownUpload();
      if (scan.size !== options.size) {
        throw new OffsetMismatchError(scan.size, 'upload size changed before commit');
      }
      // Another upload of the same content may have committed it already: the bytes are equal.
      if (!(await this.#blobs.refresh(options.digest, options.size))) {
        const prepared = this.#blobs.prepare(options.digest);
        prepared.catch(noop);
        try {
          const file = await this.#assemble(claimed, scan, options.signal);
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

  async #syncFile(path: string): Promise<void> {
    const handle = await this.#io.fs.open(path, 'r+');
    try {
      await this.#io.datasync(handle);
    } finally {
      await handle.close();
    }
  }

  /** Turns the staged chunks into one complete, synced file inside the claimed session directory. */
  async #assemble(dir: string, scan: Scan, signal?: AbortSignal): Promise<string> {
    const { offsets, size } = scan;
    const { fs } = this.#io;
    if (offsets.length === 0) {
      const empty = join(dir, '.empty');
      const handle = await fs.open(empty, 'w');
      try {
        await this.#io.datasync(handle);
      } finally {
        await handle.close();
      }
      return empty;
    }
    const first = join(dir, chunkName(offsets[0]!));
    // One chunk, or every chunk merged into the first one: that file is the blob already, without
    // a copy. It was synced with its chunks, or is now (the 201 promises a durable blob).
    const merged = offsets.every((offset, i) => i === 0 || scan.merged.has(offset));
    if (merged && (offsets.length === 1 || (await fs.stat(first)).size === size)) {
      if (!this.#syncChunks) await this.#syncFile(first);
      return first;
    }
    const handle = await fs.open(first, 'r+');
    try {
      for (let i = 1; i < offsets.length; i++) {
        const start = offsets[i]!;
        if (scan.merged.has(start)) continue;
        const stop = offsets[i + 1] ?? size;
        await this.#io.copyInto(join(dir, chunkName(start)), 0, stop - start, handle, start, signal);
      }
      // Positional writes make a retried commit correct even after a failed one; drop any excess.
      if ((await handle.stat()).size !== size) await handle.truncate(size);
      await this.#io.datasync(handle);
    } finally {
      await handle.close();
    }
    return first;
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
    this.#merges.get(id)?.stop.abort();
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

  /**
   * Removes what crashed writers left, once untouched since `sessionsBefore`: session directories
   * that are no session (a crash while creating one; unsynced chunks from before a reboot) and
   * everything in the temporary directory (a killed commit's or cancel's session, files being
   * written).
   */
  async reapLeftovers(options: LeftoverOptions): Promise<Leftover[]> {
    const limit = options.sessionsBefore.getTime();
    const candidates: string[] = [];
    for (const id of await this.#io.list(this.#layout.uploadsDir)) {
      const dir = join(this.#layout.uploadsDir, id);
      if (isUploadId(id) && !(await this.#info(id, dir))) candidates.push(dir);
    }
    for (const name of await this.#io.list(this.#layout.tmpDir))
      candidates.push(join(this.#layout.tmpDir, name));
    const reaped: Leftover[] = [];
    for (const path of candidates) {
      options.signal?.throwIfAborted();
      const size = await this.#reap(path, limit, options.dryRun ?? false);
      if (size !== undefined) reaped.push({ description: relative(this.#layout.base, path), size });
    }
    return reaped;
  }

  /** Removes an entry untouched since `limit`; resolves the bytes it held, or `undefined` if kept. */
  async #reap(path: string, limit: number, dryRun: boolean): Promise<number | undefined> {
    try {
      const info = await this.#io.fs.stat(path);
      if (Math.max(info.mtimeMs, info.ctimeMs) >= limit) return undefined;
      // Disk space, as `du` counts it: merged chunks of a killed commit are sparse.
      let size = info.isDirectory() ? 0 : info.blocks * 512;
      if (info.isDirectory()) {
        for (const name of await this.#io.list(path)) {
          size += await this.#io.fs.stat(join(path, name)).then(
            (entry) => (entry.isFile() ? entry.blocks * 512 : 0),
            () => 0,
          );
        }
      }
      if (!dryRun) await this.#io.discard(path);
      return size;
    } catch {
      // gone already
      return undefined;
    }
  }

  /** Drops the in-memory caches (they hold nothing that is not on disk). */
  forget(): void {
    this.#infos.clear();
    this.#states.clear();
    this.#scans.clear();
  }

  // ---- helpers ----

  /** Lists a session directory; `null` when the session does not exist. */
  async #scan(dir: string): Promise<Scan | null> {
    const { fs } = this.#io;
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    const offsets: number[] = [];
    const states: Array<readonly [number, string, string]> = [];
    const merged = new Set<number>();
    for (const name of names) {
      const chunk = CHUNK.exec(name);
      if (chunk) {
        offsets.push(Number(chunk[1]));
        continue;
      }
      const marker = MERGED.exec(name);
      if (marker) {
        merged.add(Number(marker[1]));
        continue;
      }
      const state = HASH_STATE.exec(name);
      if (state) states.push([Number(state[1]), state[2]!, name]);
    }
    offsets.sort((a, b) => a - b);
    states.sort((a, b) => b[0] - a[0]);
    const last = offsets[offsets.length - 1];
    if (last === undefined) return { offsets, size: 0, appendedAt: undefined, states, merged };
    try {
      const info = await fs.stat(join(dir, chunkName(last)));
      return { offsets, size: last + info.size, appendedAt: info.ctime, states, merged };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async #info(id: string, dir: string): Promise<SessionInfo | null> {
    const cached = this.#infos.get(id);
    if (cached) return cached;
    const text = await this.#io.readText(join(dir, INFO));
    if (text === null) return null;
    let parsed: { repository?: unknown; algorithm?: unknown; createdAt?: unknown; boot?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return null;
    }
    const createdAt = new Date(typeof parsed.createdAt === 'string' ? parsed.createdAt : Number.NaN);
    if (typeof parsed.repository !== 'string' || typeof parsed.algorithm !== 'string') return null;
    if (Number.isNaN(createdAt.getTime())) return null;
    // Chunks flushed only by the kernel's writeback may be torn after a power loss: such a session
    // ends with the boot it was written in (the client starts the blob over).
    if (parsed.boot !== undefined && parsed.boot !== bootId()) return null;
    const info: SessionInfo = { repository: parsed.repository, algorithm: parsed.algorithm, createdAt };
    this.#infos.set(id, info);
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
      const bytes = await this.#io.readSmall(join(dir, name));
      if (!bytes || bytes.byteLength < CHECKSUM_LENGTH) continue;
      const state = bytes.subarray(0, bytes.byteLength - CHECKSUM_LENGTH);
      const checksum = bytes.subarray(bytes.byteLength - CHECKSUM_LENGTH);
      if (!createHash('sha256').update(state).digest().equals(checksum)) continue;
      const found: HashState = { algorithm, offset, state: new Uint8Array(state) };
      this.#states.set(`${id}/${name}`, found);
      return found;
    }
    return null;
  }
}
