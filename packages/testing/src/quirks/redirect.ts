import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RegistryRequest, RegistryResponse, RouteMiddleware } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { readAll, textResponse } from '../responses.js';

/** Headers of the registry's blob answer the "CDN" passes on. */
const PASSED = /^(content-(length|type|range)|accept-ranges|docker-content-digest|etag)$/i;

/**
 * Blob downloads from another origin, as registries behind a CDN or an object store serve them:
 * blob GETs answer with a redirect to a signed URL that expires on the registry's clock; the blob
 * origin checks the signature and the expiry, needs no `Authorization`, and serves the bytes
 * (ranges too).
 */
export class BlobRedirects {
  readonly #env: KitEnvironment;
  readonly #key = randomBytes(32);
  readonly #status: 302 | 307;
  readonly #expiresIn: number;

  constructor(env: KitEnvironment, options: { readonly status: 302 | 307; readonly expiresIn?: number }) {
    this.#env = env;
    this.#status = options.status;
    this.#expiresIn = options.expiresIn ?? 1200;
  }

  #sign(path: string, expires: number): Buffer {
    return createHmac('sha256', this.#key).update(`${path}\n${expires}`).digest();
  }

  /** Redirects blob GETs the registry would answer with 200 or 206. */
  middleware(): RouteMiddleware {
    return async (call, next) => {
      if (call.route !== 'blob' || call.method !== 'GET' || call.head) return next();
      const response = await next();
      if (response.status !== 200 && response.status !== 206) return response;
      await readAll(response.body);
      const origin = this.#env.exchangeOf(call.request)?.blobOrigin ?? 'http://blobs.registry.local';
      const path = `/blobs/${call.params.repository}/${call.params.digest.digest}`;
      const expires = Math.floor(this.#env.clock.now() / 1000) + this.#expiresIn;
      const signature = this.#sign(path, expires).toString('base64url');
      return {
        status: this.#status,
        headers: {
          Location: `${origin}${path}?expires=${expires}&signature=${signature}`,
          'Content-Length': '0',
        },
        body: null,
      };
    };
  }

  /** Answers a request to the blob origin. */
  async serve(request: RegistryRequest): Promise<RegistryResponse> {
    const url = new URL(request.url, 'http://blobs.local');
    const match = /^\/blobs\/(.+)\/([^/]+)$/.exec(url.pathname);
    const expires = Number(url.searchParams.get('expires'));
    const given = Buffer.from(url.searchParams.get('signature') ?? '', 'base64url');
    if (!match || !Number.isInteger(expires)) return textResponse(404, 'not found\n');
    const expected = this.#sign(url.pathname, expires);
    if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) {
      return textResponse(403, 'signature does not match\n');
    }
    if (expires * 1000 <= this.#env.clock.now()) return textResponse(403, 'request has expired\n');
    const method = request.method === 'HEAD' ? 'HEAD' : 'GET';
    const range = request.headers.get('range');
    const inner = await this.#env.inner.handle({
      method,
      url: `/v2/${match[1]}/blobs/${match[2]}`,
      headers: new Headers(range ? { Range: range } : {}),
      body: null,
    });
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(inner.headers)) if (PASSED.test(name)) headers[name] = value;
    if (inner.status >= 400) {
      await readAll(inner.body);
      return textResponse(inner.status, 'not found\n');
    }
    return { status: inner.status, headers, body: method === 'HEAD' ? null : (inner.body ?? null) };
  }
}
