import { RegistryError } from '../errors.js';
import type { Route, RouteMethod } from './route.js';
import type { RegistryRequest } from './types.js';

/** The routes sharing one path pattern, by method. */
interface PathRoutes {
  readonly path: string;
  readonly pattern: RegExp;
  /** The `<…>` placeholders of the path, in order. */
  readonly keys: readonly string[];
  readonly byMethod: Map<RouteMethod, Route>;
}

/** A route matched by a request, with its raw (still percent-encoded) path parameters. */
export interface RouteMatch {
  readonly route: Route;
  readonly raw: Readonly<Record<string, string>>;
  readonly head: boolean;
}

/** Whether a request is a `HEAD`: answered by the `GET` route, and without a body. */
export function isHead(request: RegistryRequest): boolean {
  return request.method.toUpperCase() === 'HEAD';
}

/**
 * Compiles a path pattern. `<name>` spans segments (names contain slashes; the pattern anchors on
 * the fixed tail); any other `<…>` is one segment. A path ending in a fixed segment also matches
 * with a trailing slash.
 */
function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const segments = path.replace(/\/$/, '').split('/');
  const source = segments
    .map((segment) => {
      const placeholder = /^<(\w+)>$/.exec(segment);
      if (!placeholder) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      keys.push(placeholder[1]!);
      return placeholder[1] === 'name' ? '(.+)' : '([^/]+)';
    })
    .join('/');
  const trailing = /^<\w+>$/.test(segments.at(-1) ?? '') ? '' : '/?';
  return { pattern: new RegExp(`^${source}${trailing}$`), keys };
}

/**
 * Matches requests against a route table, on the raw, still percent-encoded path: `%2f` inside a
 * name stays inside its segment, which the name's parser then rejects, instead of becoming a
 * separator that addresses another repository. Patterns are tried in table order.
 */
export function createRouter(
  routes: readonly Route[],
): (request: RegistryRequest, rawPath: string) => RouteMatch {
  const paths: PathRoutes[] = [];
  for (const route of routes) {
    let entry = paths.find((p) => p.path === route.path);
    if (!entry) {
      entry = { path: route.path, ...compile(route.path), byMethod: new Map() };
      paths.push(entry);
    }
    for (const method of route.methods) entry.byMethod.set(method, route);
  }
  return (request, rawPath) => {
    for (const { pattern, keys, byMethod } of paths) {
      const match = pattern.exec(rawPath);
      if (!match) continue;
      const head = isHead(request);
      const method = request.method.toUpperCase();
      const route = byMethod.get((head ? 'GET' : method) as RouteMethod);
      if (!route) {
        const allow: string[] = [...byMethod.keys()];
        if (byMethod.has('GET')) allow.push('HEAD');
        throw new RegistryError('UNSUPPORTED', {
          status: 405,
          message: `method ${method.slice(0, 16)} is not allowed here`,
          headers: { Allow: allow.join(', ') },
        });
      }
      return { route, raw: Object.fromEntries(keys.map((key, i) => [key, match[i + 1]!])), head };
    }
    throw new RegistryError(rawPath.startsWith('/v2/') ? 'NAME_UNKNOWN' : 'UNSUPPORTED', {
      status: 404,
      message: 'no such endpoint',
    });
  };
}

/** Splits a request URL (path and query) into its raw, undecoded path and its query parameters. */
export function parseRequestUrl(target: string): { rawPath: string; query: URLSearchParams } {
  let url = target;
  // Absolute-form request targets (from proxies) carry an origin; only the path matters.
  if (/^https?:\/\//i.test(url)) {
    const slash = url.indexOf('/', url.indexOf('//') + 2);
    url = slash < 0 ? '/' : url.slice(slash);
  }
  const question = url.indexOf('?');
  const rawPath = question < 0 ? url : url.slice(0, question);
  const query = new URLSearchParams(question < 0 ? '' : url.slice(question + 1));
  return { rawPath, query };
}
