import type { RegistryRequest, RegistryResponse, RouteName } from '@wharf/core';
import type { Exchange } from './environment.js';

/** What a request reached: the registry, the token endpoint, or the origin serving redirected blobs. */
export type RequestTarget = 'registry' | 'token' | 'blobs';

/** One request and the response it got, as the test registry saw them. */
export interface RecordedRequest {
  /** Arrival order, from 0. */
  readonly index: number;
  readonly transport: 'fetch' | 'socket';
  readonly target: RequestTarget;
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** The path alone. */
  readonly path: string;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** The route of core's table that matched (`manifest`, `blob`, `tags`…), if any. */
  readonly route: RouteName | undefined;
  readonly repository: string | undefined;
  /** The status sent; 0 when a fault dropped the connection before any response. */
  readonly status: number;
  /** Response headers, names in lower case. */
  readonly responseHeaders: Readonly<Record<string, string>>;
  /** Names of the faults applied to this request. */
  readonly faults: readonly string[];
}

/** Request headers, whatever carried the request (a web `Request`, or node's `IncomingMessage`). */
export function requestHeaders(request: RegistryRequest): Record<string, string> {
  const context = request.context;
  const headers: Record<string, string> = {};
  if (context instanceof Request) {
    for (const [name, value] of context.headers) headers[name] = value;
  } else if (context && typeof context === 'object' && 'headers' in context) {
    for (const [name, value] of Object.entries((context as { headers: Record<string, unknown> }).headers)) {
      if (value !== undefined)
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
  }
  return headers;
}

function lowerCase(headers: RegistryResponse['headers']): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    result[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

/** Builds the record of an exchange once its response is known. */
export function recordOf(
  index: number,
  target: RequestTarget,
  request: RegistryRequest,
  exchange: Exchange,
  response: RegistryResponse,
): RecordedRequest {
  const question = request.url.indexOf('?');
  return {
    index,
    transport: exchange.transport,
    target,
    method: request.method.toUpperCase(),
    url: request.url,
    path: question < 0 ? request.url : request.url.slice(0, question),
    headers: requestHeaders(request),
    route: exchange.route,
    repository: exchange.repository,
    status: exchange.dropped ? 0 : response.status,
    responseHeaders: exchange.dropped ? {} : lowerCase(response.headers),
    faults: [...exchange.faults],
  };
}
