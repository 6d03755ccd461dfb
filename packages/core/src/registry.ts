import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { createContext, type RegistryContext } from './context.js';
import type { EventDispatcher } from './events/pipeline.js';
import { collectGarbage } from './gc/collect.js';
import type { GcOptions, GcReport } from './gc/types.js';
import { dispatch } from './http/dispatch.js';
import { BASE_HEADERS, errorResponse } from './http/response.js';
import { isHead } from './http/router.js';
import type { RegistryRequest, RegistryResponse } from './http/types.js';
import { fromWebRequest, toWebResponse } from './http/web.js';
import { countingBody, notify, onResponseEnd } from './observe.js';
import type { RegistryOptions } from './options.js';
import type { RegistryStorage } from './stores/types.js';

/** A registry: the OCI distribution API over a set of stores. */
export interface Registry {
  /** Answers one request (framework-free; bodies are streamed both ways). Never rejects. */
  handle(request: RegistryRequest): Promise<RegistryResponse>;
  /**
   * Answers a web-standard request in process, with the signature of `fetch` so it can be injected
   * wherever a client takes a fetch implementation. A relative URL is resolved against
   * `http://registry.local`.
   */
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
  /**
   * Online garbage collection: deletes blobs, links and (optionally) untagged manifests nothing
   * reachable from a tag needs, and upload sessions idle too long. Safe while pushes continue on
   * this and other replicas; see {@link GcOptions}.
   */
  gc(options?: GcOptions): Promise<GcReport>;
  /** The stores this registry runs on. */
  readonly storage: RegistryStorage;
  /**
   * The durable event pipeline when `events.endpoints` are configured: pending batches, dead
   * letters, replay, delivery counters.
   */
  readonly events: EventDispatcher | undefined;
  /** Stops background work (event delivery) and waits for it. Stores stay open (they are the caller's). */
  close(): Promise<void>;
}

/**
 * Creates a registry.
 *
 * @example
 * ```ts
 * const registry = createRegistry(); // in-memory storage
 * const res = await registry.fetch('/v2/');
 * res.status; // 200
 * ```
 */
export function createRegistry(options: RegistryOptions = {}): Registry {
  const ctx = createContext(options);
  const handle = (request: RegistryRequest) => handleRequest(ctx, request);
  return {
    handle,
    storage: ctx.storage,
    events: ctx.events,
    close: async () => ctx.events?.close(),
    gc: (options) => collectGarbage(ctx, options),
    async fetch(input, init) {
      const request =
        input instanceof Request && init === undefined
          ? input
          : new Request(
              typeof input === 'string' && input.startsWith('/') ? `http://registry.local${input}` : input,
              init,
            );
      return toWebResponse(await handle(fromWebRequest(request)));
    },
  };
}

/** A client's `X-Request-Id` is kept when it is a short printable token; anything else is replaced. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

function requestIdOf(request: RegistryRequest): string {
  if (request.id !== undefined) return request.id;
  const given = request.headers.get('x-request-id');
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The path of a request target without its query (query strings may carry tokens). */
function pathOf(url: string): string {
  const question = url.indexOf('?');
  return question < 0 ? url : url.slice(0, question);
}

async function handleRequest(ctx: RegistryContext, incoming: RegistryRequest): Promise<RegistryResponse> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(incoming);
  const { observer, logger } = ctx;
  const counted = observer.requestFinished ? countingBody(incoming.body) : undefined;
  const request: RegistryRequest = {
    ...incoming,
    id: requestId,
    ...(counted ? { body: counted.body } : {}),
  };
  const scope = ctx.openScope(request, requestId);
  notify(logger, observer.requestStarted, { requestId, method: request.method, url: request.url }, observer);

  let response: RegistryResponse;
  let errorCode: string | undefined;
  const fail = (thrown: unknown, message: string): RegistryResponse => {
    const { response: errorRes, error } = errorResponse(thrown);
    errorCode = error.code;
    const fields = {
      reqId: requestId,
      method: request.method,
      path: pathOf(request.url),
      status: error.status,
      code: error.code,
    };
    if (error.status >= 500 && request.signal?.aborted) {
      // The client went away mid-request: nobody gets this answer, and nothing is wrong here.
      logger.debug({ ...fields, err: error.cause ?? error }, 'request abandoned by the client');
    } else if (error.status >= 500) {
      logger.error({ ...fields, err: error.cause ?? error }, message);
    } else {
      logger.debug(fields, 'request rejected');
    }
    return errorRes;
  };
  const handled = ctx.recorder.enter(request);
  try {
    response = await dispatch(ctx.forRequest(request, scope), request);
  } catch (thrown) {
    response = fail(thrown, 'request failed');
  } finally {
    handled?.();
  }
  if (scope.events.length > 0) {
    // The request's events are durable before its response leaves (docs/architecture.md, "Events"):
    // a change whose event could not be recorded is not acknowledged.
    try {
      await ctx.recorder.publish(scope.events);
    } catch (thrown) {
      releaseBody(response.body);
      response = fail(thrown, 'events not recorded');
    }
  }
  Object.assign(response.headers, BASE_HEADERS, { 'X-Request-Id': requestId });
  if (isHead(request)) response.body = null;
  if (observer.requestFinished) {
    const status = response.status;
    onResponseEnd(response, (bytesOut, aborted) =>
      notify(
        logger,
        observer.requestFinished,
        {
          requestId,
          method: request.method,
          url: request.url,
          route: scope.route,
          action: scope.action,
          repository: scope.repository,
          status,
          errorCode,
          bytesIn: counted?.bytes() ?? 0,
          bytesOut,
          durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
          user: scope.user,
          aborted,
        },
        observer,
      ),
    );
  }
  return response;
}

/** Lets go of a response body that will not be sent. */
function releaseBody(body: RegistryResponse['body']): void {
  if (body == null || body instanceof Uint8Array) return;
  if (body instanceof Readable) {
    body.destroy();
    return;
  }
  const iterator = body[Symbol.asyncIterator]();
  iterator.return?.()?.catch(() => undefined);
}
