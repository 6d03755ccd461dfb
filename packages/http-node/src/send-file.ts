import type { Writable } from 'node:stream';
import type { FileBody } from '@wharf/core';
import type { NodeResponse } from './request.js';

/** Bytes per read and write. */
const BUFFER_SIZE = 512 * 1024;
/**
 * Buffers per response: some queued on the socket while the next is read, so a late write
 * callback does not leave the socket idle (2 MiB in flight, as a 1 MiB-read stream holds).
 */
const BUFFERS_PER_RESPONSE = 4;
/** Idle buffers kept for the next responses. */
const BUFFERS_KEPT = 16;

const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE);
}

/**
 * Sends a file body with buffers reused once their writes have completed (the write callback
 * says the socket no longer needs the bytes), instead of a fresh buffer per read: a stream of
 * fresh megabyte buffers makes V8 collect garbage for the external memory alone, which cost more
 * CPU than the reads and writes (`docs/architecture.md`, "Reading blobs from files"). A write
 * waits for the previous write of its buffer, which is the backpressure. Rejects when the client
 * goes away or the file fails; the body is destroyed (its file closed) either way.
 */
export async function sendFile(body: FileBody, res: NodeResponse): Promise<void> {
  const buffers = Array.from({ length: BUFFERS_PER_RESPONSE }, takeBuffer);
  // The write in flight of each buffer; a buffer whose write never settled is not reused.
  const writes: (Promise<void> | undefined)[] = buffers.map(() => undefined);
  let gone: (error: Error) => void = () => {};
  const closed = new Promise<never>((_, reject) => {
    gone = reject;
  });
  closed.catch(() => {});
  const onClose = (): void => {
    if (!res.writableFinished) gone(new Error('client disconnected'));
  };
  res.once('close', onClose);
  let settled = false;
  try {
    for (let i = 0; ; i = (i + 1) % buffers.length) {
      if (writes[i]) await Promise.race([writes[i], closed]);
      writes[i] = undefined;
      const n = await Promise.race([body.readInto(buffers[i]!), closed]);
      if (n === 0) break;
      const chunk = buffers[i]!.subarray(0, n);
      const sink: Writable = res;
      writes[i] = new Promise<void>((resolve, reject) =>
        sink.write(chunk, (error?: Error | null) => (error ? reject(error) : resolve())),
      );
      writes[i]!.catch(() => {});
    }
    await Promise.race([Promise.all(writes), closed]);
    await Promise.race([
      new Promise<void>((resolve, reject) =>
        res.end((error?: Error | null) => (error ? reject(error) : resolve())),
      ),
      closed,
    ]);
    settled = true;
  } finally {
    res.off('close', onClose);
    body.destroy();
    // Only buffers no write still holds go back to the pool.
    if (settled) for (const buffer of buffers) if (pool.length < BUFFERS_KEPT) pool.push(buffer);
  }
}
