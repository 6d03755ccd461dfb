import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { EventTransport } from './options.js';

/** Errors of a kept-alive connection the receiver closed just as it was reused. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE']);

/** An endpoint's HTTP sender and the connections it keeps. */
export interface HttpSender {
  readonly send: EventTransport;
  /** Closes the kept-alive connections. */
  close(): void;
}

/**
 * POSTs deliveries to `url` over kept-alive connections (at most `sockets` at once), without
 * following redirects. Any 2xx or 3xx answer is acceptance, as with distribution. `node:http` with
 * an agent of its own costs a fraction of `fetch` per request, which matters at one request per
 * recorded write (see docs/architecture.md, "Events").
 */
export function httpSender(url: string, sockets: number): HttpSender {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: sockets })
    : new HttpAgent({ keepAlive: true, maxSockets: sockets });
  const request = secure ? httpsRequest : httpRequest;

  const post = (
    body: Uint8Array,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal,
    retried: boolean,
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent,
          signal,
          headers: { ...headers, 'Content-Length': String(body.byteLength) },
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          // Read the answer to its end, so the connection goes back to the pool.
          res.on('error', reject);
          res.on('end', () => {
            if (status >= 200 && status < 400) resolve();
            else reject(new Error(`${url} answered ${status}`));
          });
          res.resume();
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the receiver closed meanwhile: once more, on a fresh one.
        if (!retried && req.reusedSocket && STALE_SOCKET.has(error.code ?? '') && !signal.aborted) {
          post(body, headers, signal, true).then(resolve, reject);
          return;
        }
        reject(error);
      });
      req.end(body);
    });

  return {
    send: ({ body, headers, signal }) => post(body, headers, signal, false),
    close: () => agent.destroy(),
  };
}
