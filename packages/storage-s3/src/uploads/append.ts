import {
  isStoreError,
  OffsetMismatchError,
  type UploadAppendOptions,
  UploadNotFoundError,
  type UploadSession,
} from '@wharf/core';
import type { Keys } from '../keys.js';
import type { ObjectStore } from '../objects/types.js';
import { pad, quietly, streamBody, throwIfAborted } from '../util.js';
import { type BufferPool, writeObject } from '../writer.js';
import type { ChunkClaim } from './records.js';
import { token } from './records.js';
import { type SessionLog, snapshot } from './session-log.js';

/** What {@link appendChunk} works with. */
export interface AppendContext {
  readonly store: ObjectStore;
  readonly keys: Keys;
  readonly log: SessionLog;
  readonly buffers: BufferPool;
  readonly minPartSize: number;
  /** Parts uploading at once while a large chunk streams in. */
  readonly partsInFlight: number;
}

/** A run segment vanished while being merged: the session was removed meanwhile. */
class StaleRunError extends Error {}

/**
 * Appends a chunk: streams its body into a new segment (`s/<start>-<writer>`: one PutObject, or a
 * multipart upload whose parts go out as they fill), then claims its offset. A chunk that brings
 * the trailing run of small segments to the minimum part size is written merged with that run
 * (read back once), so every segment but a trailing run is at least one part. A loser of the
 * claim deletes its segment and gets the session's current size.
 */
export async function appendChunk(
  context: AppendContext,
  id: string,
  options: UploadAppendOptions,
): Promise<UploadSession> {
  const { store, keys, log, buffers, minPartSize } = context;
  const { offset, signal } = options;
  // Core has just read the session, so this process's view is usually current; a stale view
  // only costs a refused claim.
  const state = log.cachedState(id, offset) ?? (await log.load(id));
  if (!state) throw new UploadNotFoundError(id);
  if (state.sealed || state.size !== offset) throw new OffsetMismatchError(state.size);

  const dir = keys.upload(id);
  const run = await log.trailingRun(id, state);
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
    if (ended && peekedBytes === 0) return snapshot(state, await log.hashState(id, state));

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
        partsInFlight: context.partsInFlight,
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
      log.claim(id, state.record, claim),
      store.head(log.sessionKey(id)),
      log.hashState(id, state),
    ]);
    claimed = won;
    if (!exists) {
      const key = segmentKey;
      await quietly(() => store.delete(won ? [log.claimKey(id, offset), key] : [key]));
      log.forget(id);
      throw new UploadNotFoundError(id);
    }
    if (!claimed) {
      const now = await log.load(id);
      throw now ? new OffsetMismatchError(now.size) : new UploadNotFoundError(id);
    }
    // The run merged into the new segment stays until the session ends: it is under the
    // minimum part size, and deleting it now would cost this request a round trip.
    return snapshot(log.appended(state, claim), hashState);
  } catch (error) {
    if (segmentKey && !claimed) {
      const key = segmentKey;
      await quietly(() => store.delete([key]));
    }
    if (bodyError && bodyError.error === error) throw error;
    if (isStoreError(error)) throw error;
    // An S3 failure, or the session moved on under this writer: report where it is now.
    const now = await log.load(id).catch(() => undefined);
    if (now === null) throw new UploadNotFoundError(id);
    if (now && now.size !== offset) throw new OffsetMismatchError(now.size);
    throw error;
  }
}
