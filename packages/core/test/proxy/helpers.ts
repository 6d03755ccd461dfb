import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  type AuthDecision,
  createRegistry,
  type Registry,
  type RegistryOptions,
  type RegistryRequest,
} from '@wharf/core';
import { OciClient } from '@wharf/test-utils';

/** What the test upstream does to one request instead of answering it normally. */
export interface Fault {
  /** Answer this status (with these headers) and an error body. */
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** Send the normal headers, then only this many body bytes, then reset the connection. */
  readonly truncateAt?: number;
  /** Flip one byte of the body (the length stays right). */
  readonly corrupt?: boolean;
  /** Never answer. */
  readonly hang?: boolean;
  /** Close the connection without answering. */
  readonly reset?: boolean;
  /** Pause this long (ms) before every body chunk. */
  readonly chunkDelay?: number;
}

/** A request the test upstream received. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

/** A wharf registry on a loopback port, standing in for an upstream such as Docker Hub. */
export interface TestUpstream {
  readonly url: string;
  readonly registry: Registry;
  /** Pushes content in process. */
  readonly client: OciClient;
  /** Every request so far (token requests included, as `GET /token`). */
  readonly seen: Seen[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** The most registry requests that were in progress at once. */
  maxInFlight(): number;
  /** Decides a fault per request (`undefined`: answer normally). */
  fault: ((req: IncomingMessage) => Fault | undefined) | undefined;
  stop(): Promise<void>;
}

/** Options of {@link startUpstream}. */
export interface TestUpstreamOptions {
  /** Require Docker token authentication; tokens are issued to these Basic credentials (or anyone when `anonymous`). */
  readonly token?: { readonly username?: string; readonly password?: string; readonly expiresIn?: number };
  /** Require HTTP Basic with these credentials. */
  readonly basic?: { readonly username: string; readonly password: string };
  readonly registry?: RegistryOptions;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function basicOf(credentials: { username?: string; password?: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

async function writeBody(
  res: ServerResponse,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  fault: Fault | undefined,
): Promise<void> {
  let sent = 0;
  let flipped = false;
  for await (const piece of body) {
    let chunk = Buffer.from(piece);
    if (fault?.chunkDelay) await new Promise((resolve) => setTimeout(resolve, fault.chunkDelay));
    if (fault?.truncateAt !== undefined && sent + chunk.byteLength > fault.truncateAt) {
      res.write(chunk.subarray(0, fault.truncateAt - sent));
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.destroy();
      return;
    }
    if (fault?.corrupt && !flipped && chunk.byteLength > 0) {
      chunk = Buffer.from(chunk);
      chunk[chunk.byteLength - 1] = chunk[chunk.byteLength - 1]! ^ 0xff;
      flipped = true;
    }
    sent += chunk.byteLength;
    if (!res.write(chunk)) await once(res, 'drain');
    if (res.destroyed) return;
  }
  res.end();
}

/** Starts a test upstream: an in-memory wharf on a loopback port, with optional auth and faults. */
export async function startUpstream(options: TestUpstreamOptions = {}): Promise<TestUpstream> {
  const tokens = new Set<string>();
  let url = '';
  const authorize = (request: RegistryRequest): AuthDecision => {
    const given = request.headers.get('authorization') ?? '';
    if (options.basic) {
      return given === basicOf(options.basic)
        ? true
        : { allow: false, status: 401, challenge: 'Basic realm="upstream"' };
    }
    if (options.token) {
      return tokens.has(given.replace(/^Bearer /, ''))
        ? true
        : { allow: false, status: 401, challenge: `Bearer realm="${url}/token",service="upstream.test"` };
    }
    return true;
  };
  const guarded = options.basic !== undefined || options.token !== undefined;
  const registry = createRegistry({
    ...options.registry,
    ...(guarded ? { authorize: ({ request }) => authorize(request) } : {}),
  });
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const upstream: TestUpstream = {
    url: '',
    registry,
    client: new OciClient('http://registry.local', (input, init) => registry.fetch(input, init)),
    seen,
    connections: () => connections,
    maxInFlight: () => maxInFlight,
    fault: undefined,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      seen.push({ method: req.method ?? 'GET', path, authorization: header(req, 'authorization') });
      if (path.startsWith('/token')) {
        const token = options.token;
        if (!token || (token.username && header(req, 'authorization') !== basicOf(token))) {
          res
            .writeHead(401, { 'Content-Type': 'application/json' })
            .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        const value = randomBytes(12).toString('hex');
        tokens.add(value);
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ token: value, expires_in: token.expiresIn ?? 300 }));
        return;
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once('close', () => inFlight--);
      const fault = upstream.fault?.(req);
      if (fault?.hang) return;
      if (fault?.reset) {
        req.socket.destroy();
        return;
      }
      if (fault?.status !== undefined) {
        res
          .writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers })
          .end('{"errors":[{"code":"UNKNOWN","message":"injected"}]}');
        return;
      }
      const controller = new AbortController();
      res.once('close', () => controller.abort());
      const response = await registry.handle({
        method: (req.method ?? 'GET').toUpperCase(),
        url: path,
        headers: { get: (name) => header(req, name.toLowerCase()) },
        body: null,
        signal: controller.signal,
      });
      res.writeHead(response.status, response.headers);
      const body = response.body;
      if (!body) res.end();
      else if (body instanceof Uint8Array) await writeBody(res, [body], fault);
      else await writeBody(res, body, fault);
    })().catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(upstream, { url });
}
