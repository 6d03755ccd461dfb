import { Readable } from 'node:stream';
import { nodeStreamBody } from '@wharf/core';
import type { ObjectBody } from './objects/types.js';

/** Throws the signal's reason when it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason });
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; resolves the results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  async function worker(): Promise<void> {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

/**
 * Completions of multipart uploads run one at a time per key, in this process: some servers (Ceph
 * RGW) lose track of the parts of a multipart upload that is completed on a key while another
 * completion on that key is in progress, and those parts then stay on disk for good.
 */
export { KeyedLock } from '@wharf/core';

/** Zero-padded decimal, so that keys sort by number. */
export function pad(n: number): string {
  return String(n).padStart(16, '0');
}

/** Streams an object body, releasing its connection when the consumer stops early or `signal` aborts. */
export async function* streamBody(body: ObjectBody, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const onAbort = (): void =>
    body.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) onAbort();
    for await (const chunk of body) yield chunk;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    body.destroy();
  }
}

/**
 * A blob body to hand to core: a Node stream (what the clients' HTTP responses are) as it is, so
 * the HTTP adapter pipes it to the socket natively (see core's `nodeStreamBody`), anything else
 * through {@link streamBody}.
 */
export function blobBody(body: ObjectBody, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  return body instanceof Readable ? nodeStreamBody(body, signal) : streamBody(body, signal);
}

/** A Buffer view of bytes (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Runs a best-effort cleanup step, never throwing. */
export async function quietly(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch {
    // best effort: the caller is already failing or done; a reaper removes what is left
  }
}
