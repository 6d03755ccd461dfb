import type { RegistryContext } from '../context.js';
import type { ParsedDigest } from '../oci/digest.js';
import type { RegistryAction, RegistryFeatures } from '../options.js';
import type { RegistryRequest, RegistryResponse } from './types.js';

/** A manifest reference from a request path: a valid tag, or a valid digest. */
export type ManifestReference =
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'digest'; readonly digest: ParsedDigest };

/** Parameters of routes without a repository. */
interface NoRepository {
  readonly repository?: undefined;
}

/**
 * The path parameters of each route, decoded segment by segment and validated before anything
 * else runs (see `docs/architecture.md`, "Routes").
 */
export interface RouteParams {
  readonly base: NoRepository;
  readonly catalog: NoRepository;
  readonly tags: { readonly repository: string };
  readonly manifest: { readonly repository: string; readonly reference: ManifestReference };
  readonly blob: { readonly repository: string; readonly digest: ParsedDigest };
  readonly 'blob-upload': { readonly repository: string };
  readonly 'blob-upload-chunk': { readonly repository: string; readonly uploadId: string };
  readonly referrers: { readonly repository: string; readonly subject: ParsedDigest };
}

/**
 * The name of an endpoint, as distribution names its routes: stable, and a safe metrics label
 * (the method tells the operations of one route apart).
 */
export type RouteName = keyof RouteParams;

/** One request to one route, after its path parameters were validated. */
export interface RouteCallOf<N extends RouteName> {
  readonly route: N;
  /** What the route asks the `authorize` hook for. */
  readonly action: RegistryAction;
  /** The request's method (`HEAD` is answered by the `GET` route, without a body). */
  readonly method: string;
  /** Whether this is a `HEAD` request: decided once, by the router. */
  readonly head: boolean;
  readonly params: RouteParams[N];
  readonly request: RegistryRequest;
  /** The query; a middleware may change it before the route parses it. */
  readonly query: URLSearchParams;
}

/** A request to any route; narrow it by `route` to read that route's parameters. */
export type RouteCall = { [N in RouteName]: RouteCallOf<N> }[RouteName];

/**
 * Wraps the handling of every route: runs after the route was matched and its path parameters
 * validated, around query parsing, authorization and the handler (`next`). It may answer by
 * itself, delay, or change the response; what it throws is answered as the spec's error body.
 * It may also pass on a changed request (`next({ ...call, request })`, e.g. with a body it read
 * and checked); the route and its validated parameters stay those of the matched route.
 *
 * @example
 * ```ts
 * // Answer every third blob GET with 503, as a flaky registry would.
 * let blobGets = 0;
 * const flaky: RouteMiddleware = async (call, next) => {
 *   if (call.route === 'blob' && call.method === 'GET' && ++blobGets % 3 === 0) {
 *     return { status: 503, headers: { 'Retry-After': '1' }, body: null };
 *   }
 *   return next();
 * };
 * const registry = createRegistry({ middleware: [flaky] });
 * ```
 */
export type RouteMiddleware = (
  call: RouteCall,
  next: (call?: RouteCall) => Promise<RegistryResponse>,
) => Promise<RegistryResponse>;

/** A route that a feature toggle can turn off, and what it answers then. */
export interface FeatureToggle {
  readonly feature: keyof RegistryFeatures;
  readonly status: 404 | 405;
  readonly message: string;
}

/** Methods routes are declared with (`GET` also answers `HEAD`). */
export type RouteMethod = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** One entry of the route table (`routes.ts`). */
export interface RouteDefinition<N extends RouteName, Q> {
  readonly name: N;
  /** `/v2/<name>/manifests/<reference>`: `<name>` spans segments, other `<…>` one segment each. */
  readonly path: string;
  readonly methods: readonly RouteMethod[];
  readonly action: RegistryAction;
  /** Decodes and validates the path parameters (`<…>` of `path`, raw). */
  readonly params: (raw: Readonly<Record<string, string>>) => RouteParams[N];
  /** The toggle that can turn the route off, given its parameters. */
  readonly feature?: (params: RouteParams[N]) => FeatureToggle | undefined;
  /** Parses and validates the query parameters the handler takes. */
  readonly query?: (query: URLSearchParams, ctx: RegistryContext, params: RouteParams[N]) => Q;
  readonly handle: (ctx: RegistryContext, call: RouteCallOf<N>, query: Q) => Promise<RegistryResponse>;
}

/** A route of the table, its types erased (each entry checked its own when it was defined). */
export interface Route {
  readonly name: RouteName;
  readonly path: string;
  readonly methods: readonly RouteMethod[];
  readonly action: RegistryAction;
  /** Parses the path parameters, or throws the spec's error. */
  params(raw: Readonly<Record<string, string>>): RouteCall['params'];
  /** The toggle that turns this route off for these parameters, if it is off. */
  disabled(features: Readonly<RegistryFeatures>, params: RouteCall['params']): FeatureToggle | undefined;
  /** Parses the query, then (after authorization) runs the handler. */
  prepare(ctx: RegistryContext, call: RouteCall): () => Promise<RegistryResponse>;
}

/** Declares a route; the table in `routes.ts` is a list of these. */
export function defineRoute<N extends RouteName, Q = undefined>(definition: RouteDefinition<N, Q>): Route {
  const { name, path, methods, action } = definition;
  return {
    name,
    path,
    methods,
    action,
    params: (raw) => definition.params(raw),
    disabled(features, params) {
      const toggle = definition.feature?.(params as RouteParams[N]);
      return toggle && !features[toggle.feature] ? toggle : undefined;
    },
    prepare(ctx, call) {
      const typed = call as RouteCallOf<N>;
      const query = definition.query?.(typed.query, ctx, typed.params) as Q;
      return () => definition.handle(ctx, typed, query);
    },
  };
}
