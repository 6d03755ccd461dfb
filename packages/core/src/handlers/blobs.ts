import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import { parseRange } from '../http/range.js';
import { emptyResponse } from '../http/response.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryResponse } from '../http/types.js';
import type { BlobInfo } from '../stores/types.js';

/** The size of a blob the repository may serve, or `BLOB_UNKNOWN`. */
export async function linkedBlob(ctx: RegistryContext, name: string, digest: string): Promise<BlobInfo> {
  const [linked, info] = await Promise.all([
    ctx.storage.metadata.hasBlobLink(name, digest),
    ctx.storage.blobs.stat(digest),
  ]);
  if (!linked || !info) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
  return info;
}

/** GET / HEAD `/v2/<name>/blobs/<digest>`. */
export async function getBlob(ctx: RegistryContext, call: RouteCallOf<'blob'>): Promise<RegistryResponse> {
  const { request, head } = call;
  const {
    repository: name,
    digest: { digest },
  } = call.params;
  const info = await linkedBlob(ctx, name, digest);
  const headers: Record<string, string> = {
    'Docker-Content-Digest': digest,
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };

  if (!head && ctx.storage.blobs.url) {
    const url = await ctx.storage.blobs.url(digest, { expiresIn: ctx.redirectExpiresIn });
    if (url) {
      ctx.emit({ type: 'blob.pulled', repository: name, digest, size: info.size });
      return emptyResponse(307, { Location: url, 'Docker-Content-Digest': digest });
    }
  }

  const range = parseRange(request.headers.get('range'), info.size);
  if (range.kind === 'unsatisfiable') {
    throw new RegistryError('SIZE_INVALID', {
      status: 416,
      message: 'requested range not satisfiable',
      headers: { 'Content-Range': `bytes */${info.size}` },
    });
  }
  const window = range.kind === 'partial' ? range.window : undefined;
  const status = window ? 206 : 200;
  if (window)
    headers['Content-Range'] = `bytes ${window.offset}-${window.offset + window.length - 1}/${info.size}`;
  headers['Content-Length'] = String(window ? window.length : info.size);
  if (head) return { status, headers, body: null };

  const body = await ctx.storage.blobs.open(digest, {
    ...(window ? { range: window } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  if (!body) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
  ctx.emit({ type: 'blob.pulled', repository: name, digest, size: info.size });
  return { status, headers, body };
}

/** DELETE `/v2/<name>/blobs/<digest>`: unlinks the blob from the repository (GC reclaims bytes). */
export async function deleteBlob(ctx: RegistryContext, call: RouteCallOf<'blob'>): Promise<RegistryResponse> {
  const {
    repository: name,
    digest: { digest },
  } = call.params;
  if (!(await ctx.storage.metadata.unlinkBlob(name, digest))) {
    throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
  }
  ctx.emit({ type: 'blob.deleted', repository: name, digest });
  return emptyResponse(202, { 'Docker-Content-Digest': digest });
}
