import type { RegistryResponse, RouteCall, RouteMiddleware } from '@wharf/core';
import { jsonResponse } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { errorResponse, headerOf, readAll, setHeader } from '../responses.js';
import type { CatalogQuirk, PaginationQuirk } from './types.js';

const LINK = /^<([^>]*)>;\s*rel="next"$/;

/** Shuffles names in a fixed order (what a registry listing storage in its own order returns). */
function unsorted(names: string[], seed: () => number): string[] {
  const shuffled = [...names];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(seed() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled;
}

/** Applies a pagination quirk to the query before the route parses it; answers early for a bad `n`. */
function prepareQuery(call: RouteCall, quirk: PaginationQuirk): RegistryResponse | undefined {
  const query = call.query;
  if (quirk.ignored) {
    query.delete('n');
    query.delete('last');
    return undefined;
  }
  if (quirk.link === 'opaque-cursor') {
    // The registry pages by its own cursor and ignores `last`.
    const cursor = query.get('next_page');
    query.delete('last');
    query.delete('next_page');
    if (cursor) query.set('last', Buffer.from(cursor, 'base64url').toString('utf8'));
  }
  const n = query.get('n');
  if (n === null) {
    if (quirk.defaultPageSize !== undefined) query.set('n', String(quirk.defaultPageSize));
    return undefined;
  }
  const requested = Number(n);
  if (quirk.maxPageSize !== undefined && Number.isInteger(requested) && requested > quirk.maxPageSize) {
    if (quirk.overMax === 'clamp') {
      query.set('n', String(quirk.maxPageSize));
      return undefined;
    }
    const error = quirk.overMaxError ?? {
      status: 400,
      code: 'PAGINATION_NUMBER_INVALID',
      message: 'invalid number of results requested',
      detailN: true,
    };
    return errorResponse(
      error.status,
      error.code,
      error.message,
      error.detailN ? { detail: { n: requested } } : {},
    );
  }
  return undefined;
}

/** Rewrites the `Link` header core wrote (`</v2/…?last=…&n=…>; rel="next"`) in the quirk's style. */
function rewriteLink(response: RegistryResponse, quirk: PaginationQuirk, origin: string): void {
  const link = headerOf(response, 'Link');
  if (link === undefined) return;
  const match = LINK.exec(link);
  if (quirk.ignored || quirk.link === 'none' || !match) {
    setHeader(response, 'Link', undefined);
    return;
  }
  const url = new URL(match[1]!, origin);
  if (quirk.link === 'opaque-cursor') {
    const last = url.searchParams.get('last') ?? '';
    url.searchParams.delete('last');
    url.searchParams.set('next_page', Buffer.from(last).toString('base64url'));
  }
  for (const [name, value] of Object.entries(quirk.linkParams ?? {})) url.searchParams.set(name, value);
  const target = quirk.link === 'absolute' ? url.toString() : `${url.pathname}${url.search}`;
  setHeader(response, 'Link', `<${target}>; rel="next"`);
}

/** Rewrites the JSON list of a 200 response. */
async function rewriteBody(
  response: RegistryResponse,
  edit: (body: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>,
): Promise<RegistryResponse> {
  const body = JSON.parse((await readAll(response.body)).toString('utf8')) as Record<string, unknown>;
  const rewritten = jsonResponse(response.status, await edit(body));
  for (const [name, value] of Object.entries(response.headers)) {
    if (!/^content-(length|type)$/i.test(name)) rewritten.headers[name] = value;
  }
  return rewritten;
}

/** GCR's tag-list extension: `child` and `manifest` (digest → media type, tags and times). */
async function gcrExtras(env: KitEnvironment, repository: string, body: Record<string, unknown>) {
  const manifest: Record<string, unknown> = {};
  for (const tag of (body.tags as string[] | undefined) ?? []) {
    const digest = await env.storage.metadata.getTag(repository, tag);
    if (!digest) continue;
    const record = await env.storage.metadata.getManifest(repository, digest);
    const entry = (manifest[digest] ?? {
      imageSizeBytes: '0',
      layerId: '',
      mediaType: record?.mediaType ?? '',
      tag: [] as string[],
      timeCreatedMs: '0',
      timeUploadedMs: String(record?.createdAt?.getTime() ?? 0),
    }) as { tag: string[] };
    manifest[digest] = entry;
    entry.tag.push(tag);
  }
  return { ...body, child: [], manifest };
}

/** Options of {@link listingMiddleware}. */
export interface ListingQuirks {
  readonly tags?: PaginationQuirk;
  readonly catalog?: PaginationQuirk;
  readonly catalogAccess?: CatalogQuirk;
  readonly tagsListExtras?: 'gcr';
}

/** Paging, ordering, `Link` style and extensions of tag and repository lists. */
export function listingMiddleware(quirks: ListingQuirks, env: KitEnvironment): RouteMiddleware {
  return async (call, next) => {
    if (call.route !== 'tags' && call.route !== 'catalog') return next();
    if (call.route === 'catalog' && quirks.catalogAccess && quirks.catalogAccess !== 'supported') {
      const access = quirks.catalogAccess;
      if ('redirect' in access) {
        return { status: 302, headers: { Location: access.redirect, 'Content-Length': '0' }, body: null };
      }
      return errorResponse(access.status, access.code, access.message);
    }
    const quirk = (call.route === 'tags' ? quirks.tags : quirks.catalog) ?? {};
    const early = prepareQuery(call, quirk);
    if (early) return early;
    let response = await next();
    if (response.status !== 200) return response;
    const origin = env.exchangeOf(call.request)?.origin ?? 'http://registry.local';
    rewriteLink(response, quirk, origin);
    const key = call.route === 'tags' ? 'tags' : 'repositories';
    const repository = call.route === 'tags' ? call.params.repository : undefined;
    if (quirk.order === 'unsorted' || (repository !== undefined && quirks.tagsListExtras === 'gcr')) {
      response = await rewriteBody(response, async (body) => {
        let edited = body;
        if (quirk.order === 'unsorted' && Array.isArray(body[key])) {
          edited = {
            ...edited,
            [key]: unsorted(body[key] as string[], env.random(`order:${repository ?? ''}`)),
          };
        }
        if (repository !== undefined && quirks.tagsListExtras === 'gcr') {
          edited = await gcrExtras(env, repository, edited);
        }
        return edited;
      });
    }
    return response;
  };
}
