import { join } from 'node:path';
import type { Io } from '../io.js';
import { chunkName, type Scan } from './session-dir.js';

/**
 * Turns a claimed session's staged chunks into one complete, synced file inside its directory
 * (see `FsUploadStore`, commit): the first chunk's file, completed with the chunks no background
 * merge copied yet. `synced`: whether the chunks were flushed as they were appended.
 */
export async function assembleSession(
  io: Io,
  dir: string,
  scan: Scan,
  synced: boolean,
  signal?: AbortSignal,
): Promise<string> {
  const { offsets, size } = scan;
  const { fs } = io;
  if (offsets.length === 0) {
    const empty = join(dir, '.empty');
    const handle = await fs.open(empty, 'w');
    try {
      await io.datasync(handle);
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
    if (!synced) await syncFile(io, first);
    return first;
  }
  const handle = await fs.open(first, 'r+');
  try {
    for (let i = 1; i < offsets.length; i++) {
      const start = offsets[i]!;
      if (scan.merged.has(start)) continue;
      const stop = offsets[i + 1] ?? size;
      await io.copyInto(join(dir, chunkName(start)), 0, stop - start, handle, start, signal);
    }
    // Positional writes make a retried commit correct even after a failed one; drop any excess.
    if ((await handle.stat()).size !== size) await handle.truncate(size);
    await io.datasync(handle);
  } finally {
    await handle.close();
  }
  return first;
}

async function syncFile(io: Io, path: string): Promise<void> {
  const handle = await io.fs.open(path, 'r+');
  try {
    await io.datasync(handle);
  } finally {
    await handle.close();
  }
}
