import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HeaderLookup, Registry, RegistryRequest, RegistryResponse } from '@wharf/core';

/** A `node:http` request listener; `next`, when given, receives requests outside `/v2`. */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** Options of {@link createHandler}. */
export interface NodeHandlerOptions {
  /**
   * What the registry's `authorize` hook receives as `request.context`. Default: the
   * `IncomingMessage` itself (so whatever earlier middleware attached to it is visible).
   */
  context?: (req: IncomingMessage) => unknown;
}

/** Whether a request target belongs to the registry (`/v2` or below). */
export function isRegistryPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

/** Methods whose requests never carry a body the registry reads. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

function headerLookup(req: IncomingMessage): HeaderLookup {
  return {
    get(name) {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/**
 * Whether the registry reads a body from this request: never for `GET`, `HEAD` and `OPTIONS`,
 * otherwise when it declares one (`Transfer-Encoding`, or a non-zero `Content-Length`). `node:http`
 * reports methods upper-case, as this expects.
 */
export function hasBody(req: IncomingMessage): boolean {
  if (BODYLESS.has(req.method ?? 'GET')) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Creates a `(req, res)` listener serving `registry`. Bodies stream both ways with backpressure;
 * when the client goes away the request's signal aborts and any response stream is destroyed.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createRegistry } from '@wharf/core';
 * import { createHandler } from '@wharf/http-node';
 *
 * createServer(createHandler(createRegistry())).listen(5000, '127.0.0.1');
 * ```
 */
export function createHandler(
  registry: Pick<Registry, 'handle'>,
  options: NodeHandlerOptions = {},
): NodeHandler {
  const contextOf = options.context ?? ((req: IncomingMessage) => req);
  return (req, res, next) => {
    const url = req.url ?? '/';
    if (next && !isRegistryPath(url)) {
      next();
      return;
    }
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new Error('client disconnected'));
    };
    res.once('close', onClose);
    const request: RegistryRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      url,
      headers: headerLookup(req),
      body: hasBody(req) ? req : null,
      signal: controller.signal,
      remoteAddress: req.socket.remoteAddress,
      context: contextOf(req),
    };
    registry
      .handle(request)
      .then((response) => send(req, res, response))
      .catch((error: unknown) => {
        // Only reachable when streaming a response failed midway: cut the connection so the
        // client sees a truncated body, never a silently short one.
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  };
}

async function send(req: IncomingMessage, res: ServerResponse, response: RegistryResponse): Promise<void> {
  if (res.destroyed) {
    await closeBody(response.body);
    return;
  }
  res.writeHead(response.status, response.headers);
  const body = response.body;
  if (body == null || req.method === 'HEAD') {
    await closeBody(body);
    res.end();
    return;
  }
  if (body instanceof Uint8Array) {
    res.end(body);
    return;
  }
  if (body instanceof Readable) {
    await pipeline(body, res);
    return;
  }
  await writeAll(body, res);
}

/** Resolves true when the response can take more data, false when the connection closed first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => settle(true);
    const onClose = (): void => settle(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Writes a stream to the response, waiting for `drain` whenever the socket is full (backpressure),
 * and releases the stream when the client goes away. Cheaper than wrapping it in a Readable.
 */
async function writeAll(body: AsyncIterable<Uint8Array>, res: ServerResponse): Promise<void> {
  const iterator = body[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      if (res.destroyed) throw new Error('client disconnected');
      if (!res.write(value) && !(await drained(res))) throw new Error('client disconnected');
    }
    finished = true;
    await new Promise<void>((resolve, reject) =>
      res.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  } finally {
    if (!finished) await iterator.return?.();
  }
}

/** Releases a response stream that will not be sent. */
async function closeBody(body: RegistryResponse['body']): Promise<void> {
  if (body && !(body instanceof Uint8Array)) {
    if (body instanceof Readable) body.destroy();
    else await body[Symbol.asyncIterator]().return?.();
  }
}
