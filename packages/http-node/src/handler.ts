import type { OutgoingHttpHeaders } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileBody, type Registry, type RegistryRequest, type RegistryResponse } from '@wharf/core';
import { validateHandlerOptions } from './options.js';
import {
  headerLookup,
  isGone,
  isRegistryPath,
  type NodeRequest,
  type NodeResponse,
  requestBody,
} from './request.js';
import { sendFile } from './send-file.js';

/**
 * A request listener for `node:http`, `node:https` and `http2` compatibility servers; `next`, when
 * given, receives requests outside `/v2`.
 */
export type NodeHandler<Req extends NodeRequest = NodeRequest> = (
  req: Req,
  res: NodeResponse,
  next?: (error?: unknown) => void,
) => void;

/** Options of {@link createHandler}. */
export interface NodeHandlerOptions<Req extends NodeRequest = NodeRequest> {
  /**
   * What the registry's `authorize` hook receives as `request.context`. Default: the request
   * itself (so whatever earlier middleware attached to it is visible).
   */
  context?: (req: Req) => unknown;
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
export function createHandler<Req extends NodeRequest = NodeRequest>(
  registry: Pick<Registry, 'handle'>,
  options: NodeHandlerOptions<Req> = {},
): NodeHandler<Req> {
  validateHandlerOptions(registry, options);
  const contextOf = options.context ?? ((req: Req) => req);
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
      body: requestBody(req),
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

/** What the adapter writes to: the part `ServerResponse` and `Http2ServerResponse` share. */
type Sink = Writable & { writeHead(statusCode: number, headers: OutgoingHttpHeaders): unknown };

async function send(req: NodeRequest, res: NodeResponse, response: RegistryResponse): Promise<void> {
  if (isGone(res)) {
    await closeBody(response.body);
    return;
  }
  const sink: Sink = res;
  sink.writeHead(response.status, response.headers);
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
  if (FileBody.isFileBody(body)) {
    await sendFile(body, res);
    return;
  }
  if (body instanceof Readable) {
    await pipeline(body, res);
    return;
  }
  await writeAll(body, res);
}

/** Resolves true when the response can take more data, false when the connection closed first. */
function drained(res: NodeResponse): Promise<boolean> {
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
async function writeAll(body: AsyncIterable<Uint8Array>, res: NodeResponse): Promise<void> {
  const sink: Sink = res;
  const iterator = body[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      if (isGone(res)) throw new Error('client disconnected');
      if (!sink.write(value) && !(await drained(res))) throw new Error('client disconnected');
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
