import { join, relative } from 'node:path';
import type { Leftover, LeftoverOptions } from '@wharf/core';
import type { Io } from '../io.js';
import { isUploadId, type Layout } from '../layout.js';
import type { SessionInfo } from './session-dir.js';

/**
 * Removes what crashed writers left, once untouched since `sessionsBefore`: session directories
 * that are no session (a crash while creating one; unsynced chunks from before a reboot) and
 * everything in the temporary directory (a killed commit's or cancel's session, files being
 * written). `info` is the store's (cached) reading of a session's `info`.
 */
export async function reapUploadLeftovers(
  io: Io,
  layout: Layout,
  info: (id: string, dir: string) => Promise<SessionInfo | null>,
  options: LeftoverOptions,
): Promise<Leftover[]> {
  const limit = options.sessionsBefore.getTime();
  const candidates: string[] = [];
  for (const id of await io.list(layout.uploadsDir)) {
    const dir = join(layout.uploadsDir, id);
    if (isUploadId(id) && !(await info(id, dir))) candidates.push(dir);
  }
  for (const name of await io.list(layout.tmpDir)) candidates.push(join(layout.tmpDir, name));
  const reaped: Leftover[] = [];
  for (const path of candidates) {
    options.signal?.throwIfAborted();
    const size = await reap(io, path, limit, options.dryRun ?? false);
    if (size !== undefined) reaped.push({ description: relative(layout.base, path), size });
  }
  return reaped;
}

/** Removes an entry untouched since `limit`; resolves the bytes it held, or `undefined` if kept. */
async function reap(io: Io, path: string, limit: number, dryRun: boolean): Promise<number | undefined> {
  try {
    const info = await io.fs.stat(path);
    if (Math.max(info.mtimeMs, info.ctimeMs) >= limit) return undefined;
    // Disk space, as `du` counts it: merged chunks of a killed commit are sparse.
    let size = info.isDirectory() ? 0 : info.blocks * 512;
    if (info.isDirectory()) {
      for (const name of await io.list(path)) {
        size += await io.fs.stat(join(path, name)).then(
          (entry) => (entry.isFile() ? entry.blocks * 512 : 0),
          () => 0,
        );
      }
    }
    if (!dryRun) await io.discard(path);
    return size;
  } catch {
    // gone already
    return undefined;
  }
}
