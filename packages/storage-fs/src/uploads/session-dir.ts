import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';
import { type HashState, OffsetMismatchError, UploadNotFoundError } from '@wharf/core';
import { errorCode, isMissing } from '../errors.js';
import type { Io } from '../io.js';

/**
 * The on-disk format of one upload session's directory (see `FsUploadStore` for what each file
 * means and why): names, the listing that tells a session's state, its `info` record and its
 * saved hash states. Only the upload store's modules import this.
 */

/** The immutable part of a session, written once at creation. */
export interface SessionInfo {
  readonly repository: string;
  readonly algorithm: string;
  readonly createdAt: Date;
  /**
   * The boot the session's chunks were written in, when they are not flushed before their 202
   * (see `FsUploadStore`): after a power loss they may be torn, so the session then ends.
   */
  readonly boot?: string;
}

/** What one listing of a session directory says. */
export interface Scan {
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
export function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = String(Math.round((Date.now() - uptime() * 1000) / 60_000));
    }
  }
  return boot;
}

export function unknownUpload(): UploadNotFoundError {
  return new UploadNotFoundError();
}

export function chunkName(offset: number): string {
  return `chunk-${offset}`;
}

export function mergedName(offset: number): string {
  return `merged-${offset}`;
}

export function hashStateName(offset: number, algorithm: string): string {
  return `hash-${offset}.${algorithm}`;
}

/** Lists a session directory; `null` when the session does not exist. */
export async function scanSession(io: Io, dir: string): Promise<Scan | null> {
  let names: string[];
  try {
    names = await io.fs.readdir(dir);
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
    const info = await io.fs.stat(join(dir, chunkName(last)));
    return { offsets, size: last + info.size, appendedAt: info.ctime, states, merged };
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

/**
 * Writes a new session's `info` (exclusive create). Not synced: nothing was acknowledged yet, and
 * the first chunk's directory sync covers it.
 */
export async function writeInfo(io: Io, dir: string, id: string, info: SessionInfo): Promise<void> {
  const handle = await io.fs.open(join(dir, INFO), 'wx');
  try {
    await handle.writeFile(JSON.stringify({ id, ...info, createdAt: info.createdAt.toISOString() }));
  } finally {
    await handle.close();
  }
}

/**
 * A session's `info`; `null` when there is none, it does not parse, or its chunks were written
 * unflushed in an earlier boot of the machine.
 */
export async function readInfo(io: Io, dir: string): Promise<SessionInfo | null> {
  const text = await io.readText(join(dir, INFO));
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
  return { repository: parsed.repository, algorithm: parsed.algorithm, createdAt };
}

/** Publishes a complete chunk file as `chunk-<offset>`, or fails if another writer got there first. */
export async function claimChunk(io: Io, dir: string, temp: string, offset: number): Promise<void> {
  try {
    await io.fs.link(temp, join(dir, chunkName(offset)));
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      const now = await scanSession(io, dir);
      if (!now) throw unknownUpload();
      throw new OffsetMismatchError(now.size);
    }
    if (isMissing(error)) throw unknownUpload();
    throw error;
  }
}

/**
 * Saves a hash state under `name`, in place and not synced: only the winner of the chunk ending
 * at its offset saves it, and a state a reader catches half-written, or a crash tore, fails its
 * checksum and is skipped (core then re-hashes the gap from an older state). Resolves `false` when
 * the session has gone away.
 */
export async function writeHashState(io: Io, dir: string, name: string, state: Uint8Array): Promise<boolean> {
  const checksum = createHash('sha256').update(state).digest();
  try {
    const handle = await io.fs.open(join(dir, name), 'w');
    try {
      await handle.writev([state, checksum]);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** The hash state saved under `name`, or `null` when it is missing or torn. */
export async function readHashState(
  io: Io,
  dir: string,
  name: string,
  offset: number,
  algorithm: string,
): Promise<HashState | null> {
  const bytes = await io.readSmall(join(dir, name));
  if (!bytes || bytes.byteLength < CHECKSUM_LENGTH) return null;
  const state = bytes.subarray(0, bytes.byteLength - CHECKSUM_LENGTH);
  const checksum = bytes.subarray(bytes.byteLength - CHECKSUM_LENGTH);
  if (!createHash('sha256').update(state).digest().equals(checksum)) return null;
  return { algorithm, offset, state: new Uint8Array(state) };
}
