import type { RegistryContext } from '../context.js';
import { listReferrers, type ReferrersQuery } from '../handlers/referrers.js';
import type { PageRequest } from '../http/pagination.js';
import { jsonResponse } from '../http/response.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryResponse } from '../http/types.js';
import { matchesDigestGrammar } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { referrersTag } from '../oci/referrers-tag.js';
import type { ReferrerDescriptor } from '../stores/types.js';
import type { UpstreamResponse } from './client.js';
import { fromUpstreamError, UpstreamError } from './errors.js';
import { readSmall } from './http.js';
import { isOverrideMarker, overrideMarker } from './routing.js';
import type { CachedListing, ProxyServices, ProxyTarget } from './services.js';

/** Largest listing read from an upstream. */
const LISTING_MAX_BYTES = 16 * 1024 * 1024;
/** Query parameters a next-page link keeps. */
const PAGE_PARAMS = ['n', 'last', 'artifactType'];

/** A `Warning` header value (the spec's form: code 299, agent `-`). */
export function warningHeader(text: string): string {
  return `299 - "${text}"`;
}

/** The query of the `rel="next"` link of an upstream listing, when it has one. */
function nextPage(link: string | string[] | undefined): Record<string, string> | undefined {
  const value = Array.isArray(link) ? link.join(', ') : link;
  const match = value && /<([^>]*)>\s*;\s*rel="?next"?/i.exec(value);
  if (!match) return undefined;
  const query = new URL(match[1]!, 'http://upstream.invalid').searchParams;
  const next: Record<string, string> = {};
  for (const name of PAGE_PARAMS) {
    const param = query.get(name);
    if (param !== null) next[name] = param;
  }
  return next;
}

/** This registry's link to the next page, keeping `ns` when the request was routed by it. */
function nextLink(target: ProxyTarget, endpoint: string, next: Readonly<Record<string, string>>): string {
  const query = new URLSearchParams({ ...next, ...(target.namespace ? { ns: target.namespace } : {}) });
  return `</v2/${target.name}/${endpoint}?${query.toString()}>; rel="next"`;
}

async function readJson(target: ProxyTarget, res: UpstreamResponse): Promise<Record<string, unknown>> {
  const { namespace } = target.upstream.config;
  const bytes = await readSmall(res.body, res.headers['content-length'], LISTING_MAX_BYTES, namespace);
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UpstreamError(namespace, 'invalid', 'sent a listing that is not a JSON object');
}

/** A listing from the upstream, fetched at most once per freshness interval per query. */
async function upstreamListing(
  proxy: ProxyServices,
  target: ProxyTarget,
  key: string,
  fetchListing: () => Promise<Omit<CachedListing, 'at'>>,
): Promise<{ listing: CachedListing; warning?: string } | { error: UpstreamError; stale?: CachedListing }> {
  const cached = proxy.listings.get(key);
  const now = () => proxy.ctx.clock.now();
  if (cached && now() - cached.at < target.upstream.config.tagFreshness) return { listing: cached };
  try {
    const listing = { ...(await fetchListing()), at: now() };
    proxy.listings.set(key, listing);
    return { listing };
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return cached ? { error, stale: cached } : { error };
  }
}

/**
 * GET `/v2/<name>/tags/list` of a proxied repository: the upstream's listing (cached for the tag
 * freshness interval), with tags pushed here as local overrides added to a complete listing. When
 * the upstream fails, the last listing it gave, or else the tags cached here, with a `Warning`.
 */
export async function pullTags(
  proxy: ProxyServices,
  target: ProxyTarget,
  { limit, last }: PageRequest,
): Promise<RegistryResponse> {
  const key = `tags\u0000${target.local}\u0000${limit}\u0000${last ?? ''}`;
  const result = await upstreamListing(proxy, target, key, async () => {
    const params = new URLSearchParams({ n: String(limit), ...(last === undefined ? {} : { last }) });
    const res = await target.upstream.client.request({
      method: 'GET',
      path: `/v2/${target.remote}/tags/list?${params.toString()}`,
      remote: target.remote,
      kind: 'tags',
    });
    const body = await readJson(target, res);
    const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
    const next = nextPage(res.headers.link);
    return { items: tags.filter((tag) => !isOverrideMarker(tag)), ...(next ? { next } : {}) };
  });
  const headers: Record<string, string> = {};
  let tags: string[];
  let next: Readonly<Record<string, string>> | undefined;
  if ('listing' in result) {
    proxy.cacheEvent(target, 'tags', 'hit');
    tags = [...(result.listing.items as string[])];
    next = result.listing.next;
  } else if (result.error.kind === 'not-found' && !target.upstream.config.localOverrides) {
    proxy.cacheEvent(target, 'tags', 'error');
    throw fromUpstreamError(result.error, 'repository');
  } else {
    const local = await localTags(proxy, target);
    if (!result.stale && local.length === 0) {
      proxy.cacheEvent(target, 'tags', 'error');
      throw fromUpstreamError(result.error, 'repository');
    }
    proxy.cacheEvent(target, 'tags', 'stale');
    headers.Warning = warningHeader(`${result.error.message}; listing the cached tags`.replace(/"/g, "'"));
    tags = result.stale
      ? [...(result.stale.items as string[])]
      : local.filter((t) => last === undefined || t > last);
    next = result.stale?.next;
  }
  if (target.upstream.config.localOverrides && next === undefined) {
    const overrides = await overriddenTags(proxy, target);
    tags = [...new Set([...tags, ...overrides.filter((t) => last === undefined || t > last)])].sort();
  }
  if (tags.length > limit) {
    tags = tags.slice(0, limit);
    next = { n: String(limit), last: tags[tags.length - 1]! };
  }
  if (next) headers.Link = nextLink(target, 'tags/list', next);
  return jsonResponse(200, { name: target.name, tags }, headers);
}

/** Every tag cached in the repository (override markers left out). */
async function localTags(proxy: ProxyServices, target: ProxyTarget): Promise<string[]> {
  const tags: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await proxy.ctx.storage.metadata.listTags(target.local, {
      ...(after ? { after } : {}),
      limit: 1000,
    });
    tags.push(...page.filter((tag) => !isOverrideMarker(tag)));
    if (page.length < 1000) return tags;
    after = page[page.length - 1];
  }
}

/** The tags pushed here as local overrides. */
async function overriddenTags(proxy: ProxyServices, target: ProxyTarget): Promise<string[]> {
  const local = await localTags(proxy, target);
  const { metadata } = proxy.ctx.storage;
  const marked = await Promise.all(local.map((tag) => metadata.getTag(target.local, overrideMarker(tag))));
  return local.filter((_, i) => marked[i] !== null);
}

/** The well-formed descriptors of an upstream's referrers index. */
function descriptors(list: unknown): ReferrerDescriptor[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry: unknown) => {
    const d = entry as Partial<Record<keyof ReferrerDescriptor, unknown>> | null;
    if (
      !d ||
      typeof d.mediaType !== 'string' ||
      typeof d.digest !== 'string' ||
      !matchesDigestGrammar(d.digest)
    )
      return [];
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) return [];
    const annotations =
      typeof d.annotations === 'object' && d.annotations !== null && !Array.isArray(d.annotations)
        ? Object.fromEntries(Object.entries(d.annotations).filter(([, v]) => typeof v === 'string'))
        : undefined;
    return [
      {
        mediaType: d.mediaType,
        digest: d.digest,
        size: d.size,
        ...(typeof d.artifactType === 'string' ? { artifactType: d.artifactType } : {}),
        ...(annotations ? { annotations: annotations as Record<string, string> } : {}),
      },
    ];
  });
}

/** The upstream's referrers of a digest: its referrers API, or the referrers tag schema without one. */
async function upstreamReferrers(
  target: ProxyTarget,
  digest: string,
  page: URLSearchParams,
): Promise<Omit<CachedListing, 'at'>> {
  const { client } = target.upstream;
  const query = page.toString() === '' ? '' : `?${page.toString()}`;
  try {
    const res = await client.request({
      method: 'GET',
      path: `/v2/${target.remote}/referrers/${digest}${query}`,
      remote: target.remote,
      kind: 'referrers',
      accept: MediaType.OciIndex,
    });
    const filtered = /\bartifactType\b/.test(String(res.headers['oci-filters-applied'] ?? ''));
    const next = nextPage(res.headers.link);
    return {
      items: descriptors((await readJson(target, res)).manifests),
      filtered,
      ...(next ? { next } : {}),
    };
  } catch (error) {
    if (!(error instanceof UpstreamError) || error.kind !== 'not-found') throw error;
  }
  try {
    const res = await client.request({
      method: 'GET',
      path: `/v2/${target.remote}/manifests/${referrersTag(digest)}`,
      remote: target.remote,
      kind: 'referrers',
      accept: MediaType.OciIndex,
    });
    return { items: descriptors((await readJson(target, res)).manifests) };
  } catch (error) {
    if (error instanceof UpstreamError && error.kind === 'not-found') return { items: [] };
    throw error;
  }
}

/**
 * GET `/v2/<name>/referrers/<digest>` of a proxied repository: fetched from the upstream on demand
 * (its referrers API, or the referrers tag schema when it has none) and kept for the tag freshness
 * interval. When the upstream fails, the referrers cached here, with a `Warning`.
 */
export async function pullReferrers(
  proxy: ProxyServices,
  ctx: RegistryContext,
  call: RouteCallOf<'referrers'>,
  target: ProxyTarget,
  parsed: ReferrersQuery,
): Promise<RegistryResponse> {
  const { query } = call;
  const { subject } = call.params;
  const { artifactType } = parsed;
  const page = new URLSearchParams(
    PAGE_PARAMS.flatMap((name) => {
      const value = query.get(name);
      return value === null || value === '' ? [] : [[name, value] as [string, string]];
    }),
  );
  const key = `referrers\u0000${target.local}\u0000${subject.digest}\u0000${page.toString()}`;
  const result = await upstreamListing(proxy, target, key, () =>
    upstreamReferrers(target, subject.digest, page),
  );
  if (!('listing' in result) && !result.stale) {
    proxy.cacheEvent(target, 'referrers', 'stale');
    const response = await listReferrers(ctx, call, parsed);
    response.headers.Warning = warningHeader(
      `${result.error.message}; listing the cached referrers`.replace(/"/g, "'"),
    );
    return response;
  }
  const listing = 'listing' in result ? result.listing : result.stale!;
  proxy.cacheEvent(target, 'referrers', 'listing' in result ? 'hit' : 'stale');
  const headers: Record<string, string> = { 'Content-Type': MediaType.OciIndex };
  let manifests = listing.items as ReferrerDescriptor[];
  if (artifactType !== undefined) {
    if (!listing.filtered) manifests = manifests.filter((d) => d.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  if (!('listing' in result)) {
    headers.Warning = warningHeader(
      `${result.error.message}; listing referrers fetched earlier`.replace(/"/g, "'"),
    );
  }
  if (listing.next) headers.Link = nextLink(target, `referrers/${subject.digest}`, listing.next);
  return jsonResponse(200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, headers);
}
