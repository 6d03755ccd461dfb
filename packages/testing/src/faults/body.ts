import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Exchange } from '../environment.js';

/** How a connection is cut: reset (RST) or closed early (FIN) with the body incomplete. */
export type Cut = 'reset' | 'truncate';

/** An error shaped as undici's, for clients in process. */
export function networkError(cut: Cut, phase: 'request' | 'body'): TypeError {
  const cause =
    cut === 'reset'
      ? Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' })
      : Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
  return new TypeError(phase === 'request' ? 'fetch failed' : 'terminated', { cause });
}

/** Waits until what was written to the socket has left the process, so the client receives it. */
async function flushed(socket: Socket): Promise<void> {
  for (let i = 0; i < 200 && socket.writableLength > 0 && !socket.destroyed; i++) await sleep(5);
  // Let the peer read the bytes before the connection goes.
  await sleep(20);
}

/** Cuts the exchange's connection now (over a socket) and resolves the error for the body stream. */
export async function cutConnection(exchange: Exchange | undefined, cut: Cut): Promise<Error> {
  const socket = exchange?.socket;
  if (socket && !socket.destroyed) {
    await flushed(socket);
    if (cut === 'reset') socket.resetAndDestroy();
    else socket.destroy();
    return new Error(
      cut === 'reset' ? 'connection reset by fault injection' : 'connection closed by fault injection',
    );
  }
  return networkError(cut, 'body');
}

/** Passes on the first `limit` bytes of a body, then cuts the connection. */
export async function* cutAfter(
  body: AsyncIterable<Uint8Array>,
  limit: number,
  cut: Cut,
  exchange: Exchange | undefined,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  const iterator = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (sent >= limit) throw await cutConnection(exchange, cut);
      const { value, done } = await iterator.next();
      if (done) return;
      const part = value.subarray(0, limit - sent);
      sent += part.byteLength;
      if (part.byteLength > 0) yield part;
    }
  } finally {
    await iterator.return?.();
  }
}

/** Passes a body on with the byte at `offset` inverted. */
export async function* corruptAt(
  body: AsyncIterable<Uint8Array>,
  offset: number,
): AsyncGenerator<Uint8Array> {
  let position = 0;
  for await (const chunk of body) {
    if (offset >= position && offset < position + chunk.byteLength) {
      const copy = Buffer.from(chunk);
      copy[offset - position]! ^= 0xff;
      yield copy;
    } else {
      yield chunk;
    }
    position += chunk.byteLength;
  }
}
