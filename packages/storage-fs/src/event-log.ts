import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FreshReads, isEventKey } from '@wharf/core';
import { isMissing } from './errors.js';
import { decodeFrames, encodeFrame, frameValue } from './event-frames.js';
import { noop, readExactly, writeAll } from './file-io.js';
import type { Io } from './io.js';

/**
 * A process appends to one segment for at most this long, then starts another. A segment older
 * than this (by the time in its name) never grows again, which is what lets any process remove it.
 */
export const SEGMENT_MAX_AGE_MS = 10_000;
/** A process starts a new segment once its current one holds this many bytes. */
const SEGMENT_MAX_BYTES = 16 * 1024 * 1024;
/**
 * A segment is removed this long after it stopped growing at the earliest (when every record in
 * it is deleted): an append issued just before the segment's end of life may still be on its way
 * through the thread pool.
 */
export const SEGMENT_REMOVE_MARGIN_MS = 60_000;

/** Where a live record's value lies. */
interface Frame {
  readonly segment: Segment;
  readonly offset: number;
  readonly length: number;
}

/** What this process knows of one segment file. */
interface Segment {
  readonly name: string;
  /** When its writer created it (epoch ms, from its name). */
  readonly created: number;
  /** Bytes parsed so far: everything before is whole frames. */
  parsed: number;
  /** Bytes of its tombstone file read so far (complete lines only). */
  deletesRead: number;
  /** Keys of the frames parsed so far, dead or alive. */
  readonly keys: Set<string>;
  /** Keys deleted (its tombstone file), including keys whose frame was not parsed yet. */
  readonly dead: Set<string>;
  /** How many of `keys` are not in `dead`. */
  live: number;
  /**
   * Whether every frame it will ever hold is parsed: this process wrote it and stopped appending
   * cleanly, or it was read after the time when no append can reach it any more. Refreshes then
   * skip reading it.
   */
  settled: boolean;
}

/** The segment this process appends to. */
interface Writing {
  readonly segment: Segment;
  readonly handle: FileHandle;
  /** Whether its directory entry was synced (once, after the first append). */
  synced: boolean;
}

interface Pending {
  readonly key: string;
  readonly frame: Buffer;
  readonly durable: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Records written with `unique: true` (see `EventPutOptions`), kept in append-only segment files
 * instead of a file each (docs/architecture.md, "Events"): a durable write is one append and one
 * fdatasync on an open file, where a file of its own costs a create, a write, two flushes and a
 * rename. Each process appends to segments of its own (`<time>-<random>.log`) in frames with a
 * checksum, so readers in any process parse them whole or stop before an incomplete tail. Deleting
 * a record appends its key to the segment's tombstone file (`.del`, any process, not flushed: a
 * lost tombstone only repeats a delivery); a segment whose records are all deleted is removed once
 * it has stopped growing.
 */
export class EventLog {
  readonly #dir: string;
  readonly #io: Io;
  readonly #segments = new Map<string, Segment>();
  /** Live records (parsed, not deleted), by key. */
  readonly #frames = new Map<string, Frame>();
  #writing: Writing | undefined;
  #pending: Pending[] = [];
  #flushing = false;
  /** The last flush started (close waits for it). */
  #flushed: Promise<void> = Promise.resolve();
  readonly #refreshes = new FreshReads<void>();

  constructor(dir: string, io: Io) {
    this.#dir = dir;
    this.#io = io;
  }

  /**
   * Appends a record; resolves once it is written, and with `durable` flushed to disk (when the
   * store syncs at all).
   */
  append(key: string, value: Uint8Array, durable = true): Promise<void> {
    let frame: Buffer;
    try {
      frame = encodeFrame(key, value);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ key, frame, durable, resolve, reject });
      if (!this.#flushing) this.#flushed = this.#flush();
    });
  }

  /** Writes what is pending, one batch at a time: appends made meanwhile share the next flush. */
  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#write(batch);
        for (const one of batch) one.resolve();
      } catch (error) {
        for (const one of batch) one.reject(error);
      }
    }
    this.#flushing = false;
  }

  async #write(batch: readonly Pending[]): Promise<void> {
    const writing = await this.#current();
    const { segment } = writing;
    const start = segment.parsed;
    try {
      await writeAll(
        writing.handle,
        batch.map((one) => one.frame),
        start,
      );
      if (batch.some((one) => one.durable)) await this.#io.datasync(writing.handle);
      if (!writing.synced && this.#io.sync) {
        await this.#io.syncDir(this.#dir);
        writing.synced = true;
      }
    } catch (error) {
      // A part of the batch may be on disk: frames after it would be unreadable (readers stop at
      // an incomplete frame), so this segment takes no more. Whole frames of the batch may be
      // there too, so refreshes keep reading it, as other processes do.
      await this.#retire(false);
      throw error;
    }
    let at = start;
    for (const { key, frame } of batch) {
      const { offset, length } = frameValue(frame);
      this.#index(segment, key, at + offset, length);
      at += frame.byteLength;
    }
    segment.parsed = at;
  }

  /** The segment to append to: the current one while it is young and small, else a new one. */
  async #current(): Promise<Writing> {
    const writing = this.#writing;
    if (
      writing &&
      Date.now() - writing.segment.created < SEGMENT_MAX_AGE_MS &&
      writing.segment.parsed < SEGMENT_MAX_BYTES
    ) {
      return writing;
    }
    await this.#retire(true);
    const created = Date.now();
    const name = `${String(created).padStart(13, '0')}-${randomBytes(5).toString('hex')}`;
    let handle: FileHandle;
    try {
      handle = await this.#io.fs.open(this.#path(name, 'log'), 'wx');
    } catch (error) {
      if (!isMissing(error)) throw error;
      await this.#io.makeDir(this.#dir);
      handle = await this.#io.fs.open(this.#path(name, 'log'), 'wx');
    }
    const segment = newSegment(name, created);
    this.#segments.set(name, segment);
    this.#writing = { segment, handle, synced: false };
    return this.#writing;
  }

  /**
   * Stops appending to the current segment. `clean`: every frame in it is indexed (no write
   * failed), so it need never be read.
   */
  async #retire(clean: boolean): Promise<void> {
    const writing = this.#writing;
    this.#writing = undefined;
    if (writing && clean) writing.segment.settled = true;
    await writing?.handle.close().catch(noop);
  }

  #path(name: string, kind: 'log' | 'del'): string {
    return join(this.#dir, `${name}.${kind}`);
  }

  #index(segment: Segment, key: string, offset: number, length: number): void {
    addKey(segment, key);
    if (!segment.dead.has(key)) this.#frames.set(key, { segment, offset, length });
  }

  /** Whether a live record has the key (as of the last refresh). */
  has(key: string): boolean {
    return this.#frames.has(key);
  }

  /**
   * A record's value, or `null` when the log holds none under the key (after reading what was
   * appended and deleted since: another process may have written or deleted it).
   */
  async get(key: string): Promise<Uint8Array | null> {
    let frame = this.#frames.get(key);
    if (frame) {
      // Deleted meanwhile by another process?
      await this.#readDeletes(frame.segment);
    } else {
      await this.refresh();
    }
    frame = this.#frames.get(key);
    if (!frame) return null;
    let handle: FileHandle;
    try {
      handle = await this.#io.fs.open(this.#path(frame.segment.name, 'log'), 'r');
    } catch (error) {
      // Removed by another process: only segments whose records are all deleted are.
      if (isMissing(error)) return null;
      throw error;
    }
    try {
      return await readExactly(handle, frame.length, frame.offset);
    } finally {
      await handle.close();
    }
  }

  /** The names of the live records directly in the folder `dir`, after a refresh (unsorted). */
  async names(dir: string): Promise<string[]> {
    await this.refresh();
    const prefix = `${dir}/`;
    const names: string[] = [];
    for (const key of this.#frames.keys()) {
      if (key.startsWith(prefix) && !key.includes('/', prefix.length)) names.push(key.slice(prefix.length));
    }
    return names;
  }

  /** Deletes the records the log holds under these keys; resolves the keys it does not hold. */
  async delete(keys: readonly string[]): Promise<string[]> {
    if (keys.some((key) => !this.#frames.has(key))) await this.refresh();
    const bySegment = new Map<Segment, string[]>();
    const others: string[] = [];
    for (const key of keys) {
      const frame = this.#frames.get(key);
      if (!frame) {
        others.push(key);
        continue;
      }
      const list = bySegment.get(frame.segment);
      if (list) list.push(key);
      else bySegment.set(frame.segment, [key]);
    }
    await Promise.all(
      [...bySegment].map(async ([segment, deleted]) => {
        // One write(2) in append mode: lines from several processes never interleave.
        const handle = await this.#io.fs.open(this.#path(segment.name, 'del'), 'a');
        try {
          await handle.write(`${deleted.join('\n')}\n`);
        } finally {
          await handle.close();
        }
        for (const key of deleted) {
          addDead(segment, key);
          this.#frames.delete(key);
        }
      }),
    );
    return others;
  }

  /**
   * Reads what every process appended and deleted since the last refresh, and removes segments
   * that stopped growing long ago and hold no live record. Callers share refreshes that start after
   * they ask.
   */
  refresh(): Promise<void> {
    // A refresh in flight may have listed the folder before the caller's reason to look (a write
    // another process just finished): FreshReads shares only refreshes that start after the call.
    return this.#refreshes.read('', () => this.#refresh());
  }

  async #refresh(): Promise<void> {
    const files = await this.#io.list(this.#dir);
    const logs = new Set<string>();
    const deletes = new Set<string>();
    for (const file of files) {
      if (file.endsWith('.log')) logs.add(file.slice(0, -4));
      else if (file.endsWith('.del')) deletes.add(file.slice(0, -4));
    }
    for (const [name, segment] of this.#segments) {
      // The listing may predate the segment this process just created.
      if (!logs.has(name) && segment !== this.#writing?.segment) this.#forget(segment);
    }
    const now = Date.now();
    await Promise.all(
      [...logs].map(async (name) => {
        const created = segmentTime(name);
        if (created === undefined) return;
        let segment = this.#segments.get(name);
        if (!segment) {
          segment = newSegment(name, created);
          this.#segments.set(name, segment);
        }
        if (segment !== this.#writing?.segment && !segment.settled) await this.#readFrames(segment);
        // Tombstones matter only for live records; those of a segment without any are read once
        // it has some (or once it is removed, which does not need them).
        if (deletes.has(name) && segment.live > 0) await this.#readDeletes(segment);
        await this.#removeIfFinished(segment, now);
      }),
    );
    // Tombstones appended after their segment was removed.
    await Promise.all(
      [...deletes]
        .filter((name) => !logs.has(name) && (segmentTime(name) ?? now) < now - 2 * SEGMENT_REMOVE_MARGIN_MS)
        .map((name) => this.#io.unlink(this.#path(name, 'del'))),
    );
  }

  /** Parses the frames appended to another process's segment since the last look. */
  async #readFrames(segment: Segment): Promise<void> {
    const start = segment.parsed;
    // Appends reach a segment until its end of life plus the margin at the latest: what a read
    // begun after that finds is all it will ever hold.
    const final = Date.now() >= segment.created + SEGMENT_MAX_AGE_MS + SEGMENT_REMOVE_MARGIN_MS;
    const bytes = await this.#readFrom(this.#path(segment.name, 'log'), start);
    if (final) segment.settled = true;
    if (!bytes) return;
    const { frames, consumed } = decodeFrames(bytes);
    for (const { key, offset, length } of frames) {
      if (isEventKey(key)) this.#index(segment, key, start + offset, length);
    }
    // Reads of one segment may overlap (a get and a refresh): indexing twice is harmless.
    segment.parsed = Math.max(segment.parsed, start + consumed);
  }

  /** Reads the keys deleted from a segment since the last look. */
  async #readDeletes(segment: Segment): Promise<void> {
    const start = segment.deletesRead;
    const bytes = await this.#readFrom(this.#path(segment.name, 'del'), start);
    if (!bytes) return;
    const complete = bytes.lastIndexOf(0x0a) + 1;
    if (complete === 0) return;
    for (const key of bytes.subarray(0, complete).toString('utf8').split('\n')) {
      if (key === '') continue;
      addDead(segment, key);
      if (this.#frames.get(key)?.segment === segment) this.#frames.delete(key);
    }
    segment.deletesRead = Math.max(segment.deletesRead, start + complete);
  }

  /** The bytes of a file from `offset` on, or `null` when there are none (or no file). */
  async #readFrom(path: string, offset: number): Promise<Buffer | null> {
    let handle: FileHandle;
    try {
      handle = await this.#io.fs.open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size <= offset) return null;
      return await readExactly(handle, size - offset, offset);
    } finally {
      await handle.close();
    }
  }

  /** Removes a segment that stopped growing long ago and whose records are all deleted. */
  async #removeIfFinished(segment: Segment, now: number): Promise<void> {
    if (segment === this.#writing?.segment) return;
    if (segment.created + SEGMENT_MAX_AGE_MS + SEGMENT_REMOVE_MARGIN_MS > now) return;
    if (!allDeleted(segment)) return;
    // Read once more: frames appended since the parse above would otherwise go with the file.
    await this.#readFrames(segment);
    if (!allDeleted(segment)) return;
    await this.#io.unlink(this.#path(segment.name, 'log'));
    await this.#io.unlink(this.#path(segment.name, 'del'));
    this.#forget(segment);
  }

  #forget(segment: Segment): void {
    this.#segments.delete(segment.name);
    for (const key of segment.keys) {
      if (this.#frames.get(key)?.segment === segment) this.#frames.delete(key);
    }
  }

  /** Stops appending (the next append starts a new segment). */
  async close(): Promise<void> {
    await this.#flushed;
    await this.#retire(true);
  }
}

function allDeleted(segment: Segment): boolean {
  return segment.live === 0;
}

function addKey(segment: Segment, key: string): void {
  if (segment.keys.has(key)) return;
  segment.keys.add(key);
  if (!segment.dead.has(key)) segment.live++;
}

function addDead(segment: Segment, key: string): void {
  if (segment.dead.has(key)) return;
  segment.dead.add(key);
  if (segment.keys.has(key)) segment.live--;
}

function newSegment(name: string, created: number): Segment {
  return {
    name,
    created,
    parsed: 0,
    deletesRead: 0,
    keys: new Set(),
    dead: new Set(),
    live: 0,
    settled: false,
  };
}

/** The creation time in a segment's name, or `undefined` for a file that is no segment. */
function segmentTime(name: string): number | undefined {
  return /^\d{13}-[0-9a-f]{10}$/.test(name) ? Number(name.slice(0, 13)) : undefined;
}
