import { createContext, type RegistryContext } from './context.js';
import { collectGarbage } from './gc/collect.js';
import type { GcOptions, GcReport } from './gc/types.js';
import { dispatch } from './http/dispatch.js';
import { BASE_HEADERS, errorResponse } from './http/response.js';
import type { RegistryRequest, RegistryResponse } from './http/types.js';
import { fromWebRequest, toWebResponse } from './http/web.js';
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

async function handleRequest(ctx: RegistryContext, request: RegistryRequest): Promise<RegistryResponse> {
  let response: RegistryResponse;
  try {
    response = await dispatch(ctx, request);
  } catch (thrown) {
    const { response: errorRes, error } = errorResponse(thrown);
    if (error.status >= 500) {
      ctx.logger.error('request failed', {
        method: request.method,
        url: request.url,
        error: error.cause ?? error,
      });
    } else {
      ctx.logger.debug('request rejected', {
        method: request.method,
        url: request.url,
        code: error.code,
        status: error.status,
      });
    }
    response = errorRes;
  }
  Object.assign(response.headers, BASE_HEADERS);
  if (request.method.toUpperCase() === 'HEAD') response.body = null;
  return response;
}
