import type { RegistryOptions } from '@wharf/core';
import { createContext, type RegistryContext } from '../../src/context.js';
import { errorResponse } from '../../src/http/response.js';
import { fromWebRequest, toWebResponse } from '../../src/http/web.js';
import { type ProxiedPull, proxyPull } from '../../src/proxy/handlers.js';

/** A registry with upstreams whose pulls are answered by the proxy layer, in process. */
export interface Proxied {
  readonly ctx: RegistryContext;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

const PULL = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$|^\/v2\/(.+)\/tags\/list$/;

/** Drives the proxy layer directly: `fetch` takes a `/v2/…` pull of a proxied repository. */
export function proxied(options: RegistryOptions): Proxied {
  const ctx = createContext(options);
  return {
    ctx,
    async fetch(path, init) {
      const request = fromWebRequest(new Request(`http://registry.local${path}`, init));
      const url = new URL(request.url, 'http://registry.local');
      const match = PULL.exec(url.pathname);
      try {
        if (!match) throw new Error(`not a pull: ${path}`);
        const name = match[1] ?? match[4]!;
        const pull: ProxiedPull =
          match[2] === 'manifests'
            ? { kind: 'manifest', reference: match[3]! }
            : match[2] === 'blobs'
              ? { kind: 'blob', digest: match[3]! }
              : match[2] === 'referrers'
                ? { kind: 'referrers', digest: match[3]! }
                : { kind: 'tags' };
        const response = await proxyPull(ctx, request, name, pull, url.searchParams);
        if (!response) throw new Error(`not a proxied repository: ${name}`);
        if (request.method === 'HEAD') response.body = null;
        return toWebResponse(response);
      } catch (error) {
        return toWebResponse(errorResponse(error).response);
      }
    },
  };
}
