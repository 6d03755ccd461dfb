import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamBody } from '../../src/proxy/client.js';
import { UpstreamError } from '../../src/proxy/errors.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A loopback server answering every GET with `answer`; resolves a body for a GET to it. */
async function bodyFrom(
  answer: (res: ServerResponse) => void,
): Promise<{ body: UpstreamBody; ended: Promise<string | undefined> }> {
  server = createServer((_req, res) => answer(res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    get(`http://127.0.0.1:${port}/`, resolve).once('error', reject),
  );
  let report: (error: string | undefined) => void = () => {};
  const ended = new Promise<string | undefined>((resolve) => {
    report = resolve;
  });
  return { body: new UpstreamBody(res, 'upstream.test', false, (error) => report(error)), ended };
}

/** Writes `count` chunks of `size` bytes (chunked encoding), then ends. */
function chunks(count: number, size: number): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(200);
    let sent = 0;
    const next = (): void => {
      while (sent < count) {
        sent++;
        if (!res.write(Buffer.alloc(size, sent))) {
          res.once('drain', next);
          return;
        }
      }
      res.end();
    };
    next();
  };
}

describe('consuming an upstream body', () => {
  it('hands every byte over in order, pausing while a returned promise is pending', async () => {
    const { body, ended } = await bodyFrom(chunks(64, 64 * 1024));
    const received: Buffer[] = [];
    let waiting = false;
    let overlapped = false;
    await body.consume((chunk) => {
      if (waiting) overlapped = true;
      received.push(Buffer.from(chunk));
      if (received.length % 8 !== 0) return undefined;
      waiting = true;
      return new Promise((resolve) =>
        setTimeout(() => {
          waiting = false;
          resolve();
        }, 5),
      );
    });
    expect(overlapped).toBe(false);
    const all = Buffer.concat(received);
    expect(all.byteLength).toBe(64 * 64 * 1024);
    for (let i = 0; i < 64; i++) expect(all[i * 64 * 1024]).toBe(i + 1);
    expect(await ended).toBeUndefined();
  });

  it('rejects with what the consumer threw and lets go of the connection', async () => {
    const { body, ended } = await bodyFrom(chunks(1024, 64 * 1024));
    const refusal = new Error('too large');
    let calls = 0;
    await expect(
      body.consume(() => {
        calls++;
        if (calls === 3) throw refusal;
        return undefined;
      }),
    ).rejects.toBe(refusal);
    expect(await ended).toBe('abandoned');
    expect(calls).toBe(3);
  });

  it('rejects a body cut short with an UpstreamError', async () => {
    const { body, ended } = await bodyFrom((res) => {
      res.writeHead(200, { 'Content-Length': String(1024 * 1024) });
      res.write(Buffer.alloc(1000), () => res.socket?.destroy());
    });
    const error = await body.consume(() => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('invalid');
    expect(await ended).toBe('invalid');
  });
});
