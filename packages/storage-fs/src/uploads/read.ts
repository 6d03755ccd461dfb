import { join } from 'node:path';
import type { ByteWindow } from '@wharf/core';
import { isMissing } from '../errors.js';
import { readChunks } from '../file-io.js';
import type { Io } from '../io.js';
import { chunkName, mergedName, type Scan, scanSession, unknownUpload } from './session-dir.js';

/** A window of a session's staged bytes, chunk by chunk (see `FsUploadStore`). */
export async function* readStaged(
  io: Io,
  dir: string,
  window: ByteWindow,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> {
  const scan = await scanSession(io, dir);
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
      yield* readChunk(io, dir, scan, i, from, to, signal);
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
async function* readChunk(
  io: Io,
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
    yield* io.readRange(whole, from, to - from, signal);
    return;
  }
  const handle = await io.fs.open(join(dir, chunkName(start)), 'r');
  try {
    if (i === 0 || !(await io.exists(join(dir, mergedName(start))))) {
      yield* readChunks(handle, from - start, to - from, signal);
      return;
    }
  } finally {
    await handle.close();
  }
  yield* io.readRange(whole, from, to - from, signal);
}
