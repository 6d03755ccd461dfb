import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a {@link Receiver} accepted. */
export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body as JSON. */
  json<T = unknown>(): T;
}

/**
 * A webhook receiver on loopback that a test can take down (connections are then refused: the
 * port is closed) and bring back up on the same port.
 */
export interface Receiver {
  /** `http://127.0.0.1:<port>/hook` */
  readonly url: string;
  /** Every request accepted so far, in arrival order. */
  readonly received: ReceivedRequest[];
  /** The status to answer (default 200); a function decides per request. */
  status: number | ((request: ReceivedRequest) => number);
  /** Stops listening and drops open connections: clients get ECONNREFUSED. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Resolves once `predicate` holds for what was received (polling), or rejects after `timeoutMs`. */
  waitFor(predicate: (received: readonly ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a {@link Receiver} on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const receiver: Receiver = {
    get url() {
      return `http://127.0.0.1:${port}/hook`;
    },
    received,
    status: 200,
    async down() {
      if (!server) return;
      const closing = server;
      server = undefined;
      closing.close();
      for (const socket of sockets) socket.destroy();
      await once(closing, 'close');
    },
    async up() {
      if (server) return;
      const fresh = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          const request: ReceivedRequest = {
            path: req.url ?? '/',
            headers: req.headers,
            body,
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          };
          const status = typeof receiver.status === 'function' ? receiver.status(request) : receiver.status;
          if (status >= 200 && status < 300) received.push(request);
          res.writeHead(status).end();
        });
      });
      fresh.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      fresh.listen(port, '127.0.0.1');
      await once(fresh, 'listening');
      port = (fresh.address() as AddressInfo).port;
      server = fresh;
    },
    async waitFor(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(`receiver: condition not met in ${timeoutMs} ms (${received.length} received)`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    close: () => receiver.down(),
  };
  await receiver.up();
  return receiver;
}
