import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { type HeaderLookup, RegistryError } from '@wharf/core';

/** A request from `node:http` / `node:https`, or from an `http2` compatibility server. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** The response that goes with a {@link NodeRequest}. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Whether a request target belongs to the registry (`/v2` or below).
 *
 * @internal Shared with `@wharf/http-express`; not covered by semver.
 */
export function isRegistryPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

/** Methods whose requests never carry a body the registry reads. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

function isHttp2(req: NodeRequest): req is Http2ServerRequest {
  return req.httpVersionMajor >= 2 && 'stream' in req;
}

/**
 * Whether the registry reads a body from this request: never for `GET`, `HEAD` and `OPTIONS`;
 * otherwise, over HTTP/1, when it declares one (`Transfer-Encoding`, or a non-zero
 * `Content-Length`), and over HTTP/2 unless the headers ended the stream (HTTP/2 bodies need no
 * length). Methods are expected upper-case, as Node reports them.
 */
export function hasBody(req: NodeRequest): boolean {
  if (BODYLESS.has(req.method ?? 'GET')) return false;
  if (isHttp2(req)) return !req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function headerLookup(req: NodeRequest): HeaderLookup {
  return {
    get(name) {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** The body the registry reads, if any. */
export function requestBody(req: NodeRequest): AsyncIterable<Uint8Array> | null {
  if (!hasBody(req)) return null;
  return bodyConsumed(req) ? consumedBody() : req;
}

/** Whether the response can no longer be written (the client went away, or it was destroyed). */
export function isGone(res: NodeResponse): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

/**
 * Whether something before the registry (a body parser with a broad `type`, a body logger…)
 * already read the request stream. Such a body cannot be recovered byte-exactly: manifests and
 * blobs are addressed by the digest of their exact bytes, so re-serialising a parsed body is never
 * an option.
 */
export function bodyConsumed(req: NodeRequest): boolean {
  return req.readableDidRead || req.readableEnded || (req as { _body?: unknown })._body === true;
}

/** What the 500 for a consumed body says, to the client and in the log. */
export const CONSUMED_BODY_MESSAGE =
  'the request body was already read by middleware that runs before the registry (a body parser?): ' +
  'mount the registry before body-parsing middleware, or restrict their `type` so that they skip ' +
  'registry requests';

/**
 * The body of a request whose stream something else consumed: reading it fails with a 500 that
 * says why, so the registry answers (and logs) the request like any other failure, after its own
 * checks, and never stores the bytes that are left.
 */
export function consumedBody(): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        Promise.reject(new RegistryError('UNKNOWN', { status: 500, message: CONSUMED_BODY_MESSAGE })),
    }),
  };
}
