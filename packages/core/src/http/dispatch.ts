import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { deleteBlob, getBlob } from '../handlers/blobs.js';
import { listCatalog, listTags, ping } from '../handlers/listings.js';
import { deleteManifest, getManifest, putManifest } from '../handlers/manifests.js';
import { listReferrers } from '../handlers/referrers.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from '../handlers/uploads.js';
import { matchRoute, parseRequestUrl, type Route } from './router.js';
import type { RegistryRequest, RegistryResponse } from './types.js';

type Handler = (
  ctx: RegistryContext,
  request: RegistryRequest,
  query: URLSearchParams,
) => Promise<RegistryResponse>;

/** Route names as distribution names its routes (the metrics label of a request). */
const ROUTE_NAMES: Record<Route['kind'], string> = {
  base: 'base',
  catalog: 'catalog',
  tags: 'tags',
  manifest: 'manifest',
  blob: 'blob',
  uploads: 'blob-upload',
  upload: 'blob-upload-chunk',
  referrers: 'referrers',
};

/** The handlers of a route, by method (HEAD is served wherever GET is). */
function handlersFor(route: Route): Partial<Record<string, Handler>> {
  switch (route.kind) {
    case 'base':
      return { GET: (ctx, req) => ping(ctx, req) };
    case 'catalog':
      return { GET: (ctx, req, q) => listCatalog(ctx, req, q) };
    case 'tags':
      return { GET: (ctx, req, q) => listTags(ctx, req, route.name, q) };
    case 'manifest':
      return {
        GET: (ctx, req) => getManifest(ctx, req, route.name, route.reference),
        PUT: (ctx, req, q) => putManifest(ctx, req, route.name, route.reference, q),
        DELETE: (ctx, req) => deleteManifest(ctx, req, route.name, route.reference),
      };
    case 'blob':
      return {
        GET: (ctx, req) => getBlob(ctx, req, route.name, route.digest),
        DELETE: (ctx, req) => deleteBlob(ctx, req, route.name, route.digest),
      };
    case 'uploads':
      return { POST: (ctx, req, q) => startUpload(ctx, req, route.name, q) };
    case 'upload':
      return {
        GET: (ctx, req) => uploadStatus(ctx, req, route.name, route.id),
        PATCH: (ctx, req) => patchUpload(ctx, req, route.name, route.id),
        PUT: (ctx, req, q) => completeUpload(ctx, req, route.name, route.id, q),
        DELETE: (ctx, req) => cancelUpload(ctx, req, route.name, route.id),
      };
    case 'referrers':
      return { GET: (ctx, req, q) => listReferrers(ctx, req, route.name, route.digest, q) };
  }
}

/** Routes a request to its handler; throws `RegistryError` for unknown paths and methods. */
export async function dispatch(ctx: RegistryContext, request: RegistryRequest): Promise<RegistryResponse> {
  const url = parseRequestUrl(request.url);
  const route = url && matchRoute(url.path);
  if (!url || !route) {
    throw new RegistryError(url?.path.startsWith('/v2/') ? 'NAME_UNKNOWN' : 'UNSUPPORTED', {
      status: 404,
      message: 'no such endpoint',
    });
  }
  const scope = ctx.scopeOf(request);
  if (scope) scope.route = ROUTE_NAMES[route.kind];
  const handlers = handlersFor(route);
  const method = request.method.toUpperCase();
  const handler = handlers[method] ?? (method === 'HEAD' ? handlers.GET : undefined);
  if (!handler) {
    const allow = Object.keys(handlers);
    if (allow.includes('GET')) allow.push('HEAD');
    throw new RegistryError('UNSUPPORTED', {
      status: 405,
      message: `method ${method} is not allowed here`,
      headers: { Allow: allow.join(', ') },
    });
  }
  return handler(ctx, request, url.query);
}
