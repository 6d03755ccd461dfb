import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry, RegistryResponse } from '@wharf/core';
import { createHandler, isRegistryPath } from '@wharf/http-node';
import { validateMiddlewareOptions } from './options.js';

/**
 * An Express (4 or 5) / Connect middleware. It is typed with `node:http` types only, so it fits
 * `app.use`, `router.use` and plain `(req, res, next)` stacks without depending on Express's types.
 */
export type WharfMiddleware<Req extends IncomingMessage = IncomingMessage> = (
  req: Req,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** Options of {@link wharf}. */
export interface WharfOptions<Req extends IncomingMessage = IncomingMessage> {
  /**
   * What the registry's `authorize` hook receives as `request.context`. Default: the Express
   * request itself, so whatever the host's middleware attached to it (`req.user`, `req.session`…)
   * is visible there.
   */
  context?: (req: Req, res: ServerResponse) => unknown;
  /**
   * Adds `no-transform` to every registry response's `Cache-Control`, which makes `compression()`
   * (and well-behaved proxies) leave registry responses alone: clients check digests, sizes,
   * `Content-Length` and byte ranges against the bytes exactly as the registry sends them, and
   * layers are already compressed. Default `true`.
   */
  noTransform?: boolean;
}

/** Adds `no-transform` to a response's `Cache-Control`, keeping what the registry set. */
function withNoTransform(response: RegistryResponse): RegistryResponse {
  const key = Object.keys(response.headers).find((name) => name.toLowerCase() === 'cache-control');
  if (key === undefined) {
    response.headers['Cache-Control'] = 'no-transform';
    return response;
  }
  const current = response.headers[key];
  const value = Array.isArray(current) ? current.join(', ') : (current ?? '');
  if (!/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)) {
    response.headers[key] = value ? `${value}, no-transform` : 'no-transform';
  }
  return response;
}

/**
 * Mounts a registry in an Express 4 or 5 app (or an Express `Router`, or any Connect-style stack).
 * The registry owns `/v2` and everything below it, at the root of the host (clients always address
 * `/v2/…` there): mount it with `app.use(wharf(registry))`, in a `Router`, or with
 * `app.use('/v2', wharf(registry))`. Every other request goes on to the next middleware. Requests
 * and responses stream through `@wharf/http-node`; registry errors are always the spec's JSON
 * error bodies, never Express's error page.
 *
 * Mount it before body-parsing middleware (or keep their `type` narrow: the defaults of
 * `express.json()` and `express.urlencoded()` never match registry requests). A request whose body
 * was already read gets a 500 explaining this (and logged as such) instead of a corrupted upload.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createRegistry } from '@wharf/core';
 * import { wharf } from '@wharf/http-express';
 *
 * const app = express();
 * app.use(wharf(createRegistry()));
 * app.get('/', (_req, res) => res.send('hello'));
 * app.listen(5000, '127.0.0.1');
 * ```
 */
export function wharf<Req extends IncomingMessage = IncomingMessage>(
  registry: Pick<Registry, 'handle'>,
  options: WharfOptions<Req> = {},
): WharfMiddleware<Req> {
  validateMiddlewareOptions(registry, options);
  const target: Pick<Registry, 'handle'> =
    options.noTransform === false
      ? registry
      : { handle: async (request) => withNoTransform(await registry.handle(request)) };
  const context = options.context;
  // Computed here, where the host's request and response are at hand, and looked up by the node
  // adapter when it builds the registry request (synchronously, within `handler(req, res)`).
  const contexts = new WeakMap<IncomingMessage, unknown>();
  const handler = createHandler<IncomingMessage>(target, {
    context: context ? (req) => contexts.get(req) : (req) => req,
  });
  return (req, res, next) => {
    // Mounted with `app.use('/v2', …)`, Express strips `/v2` from `req.url`; clients always
    // address `/v2/…` at the root of the host, which `originalUrl` keeps.
    const original = (req as { originalUrl?: string }).originalUrl;
    if (!isRegistryPath(req.url ?? '/')) {
      if (original === undefined || !isRegistryPath(original)) {
        next();
        return;
      }
      req.url = original;
    }
    if (context) {
      try {
        contexts.set(req, context(req, res));
      } catch (error) {
        // The host's own callback failed: that is the host's error to handle.
        next(error);
        return;
      }
    }
    handler(req, res, next);
  };
}
