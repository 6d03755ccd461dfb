import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import express5 from 'express';
import express4 from 'express4';

/** A `(req, res, next)` middleware, as both Express versions accept it. */
export type Handler = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;
/** A four-argument error handler. */
export type ErrorHandler = (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** The part of an Express app or Router the tests use, common to Express 4 and 5. */
export interface HostRouter {
  use(...handlers: Array<Handler | ErrorHandler | HostRouter>): unknown;
  use(path: string, ...handlers: Array<Handler | HostRouter>): unknown;
  get(path: string, handler: Handler): unknown;
  post(path: string, handler: Handler): unknown;
}

/** An Express app: a router that is also a `node:http` request listener. */
export type HostApp = HostRouter & RequestListener;

/** One Express major version, behind the common interface. */
export interface Flavor {
  readonly name: string;
  app(): HostApp;
  router(): HostRouter;
  json(options?: { type?: string }): Handler;
  urlencoded(): Handler;
  raw(options?: { type?: string; limit?: string }): Handler;
}

export const flavors: readonly Flavor[] = [
  {
    name: 'Express 4',
    app: () => express4() as unknown as HostApp,
    router: () => express4.Router() as unknown as HostRouter,
    json: (options) => express4.json(options),
    urlencoded: () => express4.urlencoded({ extended: false }),
    raw: (options) => express4.raw(options),
  },
  {
    name: 'Express 5',
    app: () => express5() as unknown as HostApp,
    router: () => express5.Router() as unknown as HostRouter,
    json: (options) => express5.json(options),
    urlencoded: () => express5.urlencoded({ extended: false }),
    raw: (options) => express5.raw(options),
  },
];

const servers: Server[] = [];

/** Listens on a free loopback port; {@link closeAll} stops it. */
export async function listen(app: RequestListener): Promise<{ url: string; port: number }> {
  const server = createServer(app);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port };
}

export async function closeAll(): Promise<void> {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A raw HTTP exchange (no automatic decompression, unlike fetch). */
export async function exchange(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Uint8Array,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const req = httpRequest({ host: '127.0.0.1', port, method, path, headers });
  req.end(body);
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
}

/** Sends raw bytes on a fresh connection and collects everything until the server closes. */
export async function rawExchange(port: number, data: string | Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(data);
  let text = '';
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(text));
  });
}

/** Polls until `check` passes (state changes that follow a disconnect happen asynchronously). */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
