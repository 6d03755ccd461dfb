import type { RegistryContext } from '../context.js';
import { RegistryError } from '../errors.js';
import type { PageRequest } from '../http/pagination.js';
import { jsonResponse, nextLink } from '../http/response.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryRequest, RegistryResponse } from '../http/types.js';
import type { ListPage } from '../stores/types.js';

/**
 * One page of a sorted listing: asks the store for one item more than the page so that a `Link`
 * to the next page is sent only when there is one.
 */
async function listPage(
  list: (page: ListPage) => Promise<string[]>,
  { limit, last }: PageRequest,
  path: string,
): Promise<{ items: string[]; link?: string }> {
  if (limit === 0) return { items: [] };
  const items = await list({ ...(last === undefined ? {} : { after: last }), limit: limit + 1 });
  if (items.length <= limit) return { items };
  const page = items.slice(0, limit);
  return { items: page, link: nextLink(path, { n: limit, last: page[page.length - 1]! }) };
}

/** GET `/v2/<name>/tags/list`. */
export async function listTags(
  ctx: RegistryContext,
  call: RouteCallOf<'tags'>,
  page: PageRequest,
): Promise<RegistryResponse> {
  const name = call.params.repository;
  if (!(await ctx.storage.metadata.hasRepository(name))) {
    throw new RegistryError('NAME_UNKNOWN', { detail: { name } });
  }
  const { items, link } = await listPage(
    (p) => ctx.storage.metadata.listTags(name, p),
    page,
    `/v2/${name}/tags/list`,
  );
  return jsonResponse(200, { name, tags: items }, link ? { Link: link } : {});
}

/** GET `/v2/_catalog`: repositories the caller may pull from. */
export async function listCatalog(
  ctx: RegistryContext,
  call: RouteCallOf<'catalog'>,
  page: PageRequest,
): Promise<RegistryResponse> {
  const list = ctx.guarded
    ? visibleRepositories(ctx, call.request)
    : (p: ListPage) => ctx.storage.metadata.listRepositories(p);
  const { items, link } = await listPage(list, page, '/v2/_catalog');
  return jsonResponse(200, { repositories: items }, link ? { Link: link } : {});
}

/** A page lister over the repositories the caller may pull from (under access control). */
function visibleRepositories(
  ctx: RegistryContext,
  request: RegistryRequest,
): (page: ListPage) => Promise<string[]> {
  return async ({ after, limit = ctx.limits.pageSize }) => {
    const visible: string[] = [];
    let cursor = after;
    for (;;) {
      const batch = await ctx.storage.metadata.listRepositories({
        ...(cursor === undefined ? {} : { after: cursor }),
        limit: Math.max(limit, 100),
      });
      const allowed = await Promise.all(batch.map((name) => ctx.allows(request, 'pull', name, 'catalog')));
      for (const [i, name] of batch.entries()) {
        if (allowed[i]) visible.push(name);
        if (visible.length === limit) return visible;
      }
      if (batch.length < Math.max(limit, 100)) return visible;
      cursor = batch[batch.length - 1];
    }
  };
}

/** GET `/v2/`: the API version check (and where clients learn how to authenticate). */
export async function ping(): Promise<RegistryResponse> {
  return jsonResponse(200, {});
}
