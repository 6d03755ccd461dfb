import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { getBlob } from '../handlers/blobs.js';
import { parseRange } from '../http/range.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryRequest, RegistryResponse } from '../http/types.js';
import { fromUpstreamError, UpstreamError } from './errors.js';
import type { ProxyServices, ProxyTarget } from './services.js';

/** Headers of a blob response, as for a stored blob. */
function blobHeaders(digest: string): Record<string, string> {
  return {
    'Docker-Content-Digest': digest,
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
}

/** Serves a blob the cached repository has, from storage. */
async function serveStored(
  proxy: ProxyServices,
  ctx: RegistryContext,
  call: RouteCallOf<'blob'>,
  digest: string,
): Promise<RegistryResponse> {
  const response = await getBlob(ctx, call);
  response.body = proxy.trackStream(response.body, [digest]);
  return response;
}

function failed(proxy: ProxyServices, target: ProxyTarget, digest: string, error: unknown): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const mapped = fromUpstreamError(error, 'blob');
  proxy.cacheEvent(target, 'blob', 'error');
  proxy.ctx.emit({
    type: 'proxy.failed',
    upstream: target.upstream.config.namespace,
    repository: target.local,
    reference: digest,
    status: mapped.status,
    message: error.message,
    stale: false,
  });
  return mapped;
}

/** Asks the upstream whether the repository has a blob; resolves its size when it says. */
async function headUpstream(target: ProxyTarget, digest: string): Promise<number | undefined> {
  const res = await target.upstream.client.request({
    method: 'HEAD',
    path: `/v2/${target.remote}/blobs/${digest}`,
    remote: target.remote,
    kind: 'blob',
  });
  res.body.dispose();
  const size = Number(res.headers['content-length']);
  return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
}

/**
 * GET / HEAD of a blob of a proxied repository (docs/architecture.md, "Pull-through cache").
 * Cached: served from storage like any blob. Stored for another repository: linked once the
 * upstream confirms this repository has it. Otherwise a HEAD asks the upstream, and a GET joins
 * (or starts) the one download of the blob in this process and streams it as it arrives; a
 * `Range` is answered from the download once it gets there.
 */
export async function pullBlob(
  proxy: ProxyServices,
  ctx: RegistryContext,
  call: RouteCallOf<'blob'>,
  target: ProxyTarget,
): Promise<RegistryResponse> {
  const { digest } = call.params.digest;
  const [linked, stored] = await Promise.all([
    ctx.storage.metadata.hasBlobLink(target.local, digest),
    ctx.storage.blobs.stat(digest),
  ]);
  if (linked && stored) {
    proxy.cacheEvent(target, 'blob', 'hit');
    await proxy.used(target, { digest });
    return serveStored(proxy, ctx, call, digest);
  }
  try {
    if (stored) {
      await headUpstream(target, digest);
      await ctx.storage.metadata.linkBlob(target.local, digest);
      proxy.cacheEvent(target, 'blob', 'hit');
      return serveStored(proxy, ctx, call, digest);
    }
    if (call.head) {
      const size = await headUpstream(target, digest);
      proxy.cacheEvent(target, 'blob', 'miss');
      const headers = blobHeaders(digest);
      if (size !== undefined) headers['Content-Length'] = String(size);
      return { status: 200, headers, body: null };
    }
    return await streamFill(proxy, ctx, call.request, target, digest);
  } catch (error) {
    throw failed(proxy, target, digest, error);
  }
}

/** Answers a GET from the blob's download in this process (joined or started). */
async function streamFill(
  proxy: ProxyServices,
  ctx: RegistryContext,
  request: RegistryRequest,
  target: ProxyTarget,
  digest: string,
): Promise<RegistryResponse> {
  const { fill } = proxy.fill(target, digest);
  const { size } = await fill.started;
  proxy.cacheEvent(target, 'blob', 'miss');
  const headers = blobHeaders(digest);
  const range =
    size === undefined ? ({ kind: 'full' } as const) : parseRange(request.headers.get('range'), size);
  if (range.kind === 'unsatisfiable') {
    throw new RegistryError('SIZE_INVALID', {
      status: 416,
      message: 'requested range not satisfiable',
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
  const window = range.kind === 'partial' ? range.window : undefined;
  if (window)
    headers['Content-Range'] = `bytes ${window.offset}-${window.offset + window.length - 1}/${size}`;
  if (size !== undefined) headers['Content-Length'] = String(window ? window.length : size);
  ctx.emit({ type: 'blob.pulled', repository: target.local, digest, size: size ?? 0 });
  return {
    status: window ? 206 : 200,
    headers,
    body: fill.read({ ...(window ? { offset: window.offset, length: window.length } : {}), holdBack: true }),
  };
}
