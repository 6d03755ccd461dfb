import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { proxyRoute } from '../proxy/handlers.js';
import type { RouteCall, RouteMiddleware } from './route.js';
import { createRouter, parseRequestUrl } from './router.js';
import { ROUTES } from './routes.js';
import type { RegistryRequest, RegistryResponse } from './types.js';

const route = createRouter(ROUTES);

/**
 * Runs `last` inside the middleware, the first one outermost. A middleware may pass on another
 * request; the route and its validated parameters cannot change.
 */
function run(
  middleware: readonly RouteMiddleware[],
  call: RouteCall,
  last: (call: RouteCall) => Promise<RegistryResponse>,
): Promise<RegistryResponse> {
  const step = (i: number, current: RouteCall): Promise<RegistryResponse> =>
    i === middleware.length
      ? last(current)
      : middleware[i]!(current, (next) =>
          step(i + 1, next ? ({ ...next, route: call.route, params: call.params } as RouteCall) : current),
        );
  return step(0, call);
}

/**
 * Answers a request through the route table, in the same order on every route: match the raw path
 * (404, 405), parse the path parameters (400, or 404 for what can name nothing), the feature toggle
 * (404 or 405), then the middleware around the query parameters (400), `authorize` (401, 403) and
 * the handler. Validation is syntactic and reveals nothing stored, so it comes before authorization
 * and the hook only ever sees valid names. Throws `RegistryError`s (and whatever stores throw).
 */
export async function dispatch(ctx: RegistryContext, request: RegistryRequest): Promise<RegistryResponse> {
  const { rawPath, query } = parseRequestUrl(request.url);
  const matched = route(request, rawPath);
  const { name, action } = matched.route;
  const scope = ctx.scopeOf(request);
  if (scope) {
    scope.route = name;
    scope.action = action;
  }
  const params = matched.route.params(matched.raw);
  if (scope) scope.repository = params.repository;
  const disabled = matched.route.disabled(ctx.features, params);
  if (disabled)
    throw new RegistryError('UNSUPPORTED', { status: disabled.status, message: disabled.message });

  const call = {
    route: name,
    action,
    method: request.method.toUpperCase(),
    head: matched.head,
    params,
    request,
    query,
  } as RouteCall;
  // Pulls of proxied repositories and writes under proxied prefixes (docs/architecture.md,
  // "Pull-through cache"): a pull runs, and is authorized, as one of the repository it is cached in.
  const proxied = proxyRoute(ctx, call, () => matched.route.prepare(ctx, call));
  const effective = proxied?.call ?? call;
  if (scope) scope.repository = effective.params.repository;
  return run(ctx.middleware, effective, async (current) => {
    const handle = proxied ? proxied.prepare() : matched.route.prepare(ctx, current);
    const user = await ctx.authorize(current.request, action, effective.params.repository);
    if (scope) scope.user = user;
    return handle();
  });
}
