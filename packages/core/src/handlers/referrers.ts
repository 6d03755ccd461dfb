import type { RegistryContext } from '../context.js';
import { type PageRequest, parsePage } from '../http/pagination.js';
import { jsonResponse, nextLink } from '../http/response.js';
import type { RouteCallOf } from '../http/route.js';
import type { RegistryResponse } from '../http/types.js';
import { tryParseDigest } from '../oci/digest.js';
import { parseManifest, referrerDescriptor } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { referrersTag } from '../oci/referrers-tag.js';
import type { ReferrerDescriptor } from '../stores/types.js';
import { loadManifest } from './manifests.js';

/**
 * Referrers recorded before the API existed: manifests listed in the index under the referrers tag
 * schema that exist here and really name `subject` (the spec's upgrade rule).
 */
async function taggedReferrers(
  ctx: RegistryContext,
  name: string,
  subject: string,
): Promise<ReferrerDescriptor[]> {
  const tagged = await ctx.storage.metadata.getTag(name, referrersTag(subject));
  if (!tagged || !tryParseDigest(tagged)) return [];
  const index = await loadManifest(ctx, name, tagged);
  if (!index) return [];
  let children: readonly { digest: string }[];
  try {
    const parsed = parseManifest(index.bytes, index.mediaType);
    if (parsed.mediaType !== MediaType.OciIndex) return [];
    children = parsed.manifests;
  } catch {
    return [];
  }
  const found = await Promise.all(
    children.map(async ({ digest }) => {
      if (!tryParseDigest(digest)) return null;
      const child = await loadManifest(ctx, name, digest);
      if (!child) return null;
      try {
        const parsed = parseManifest(child.bytes, child.mediaType);
        return parsed.subject?.digest === subject
          ? referrerDescriptor(parsed, digest, child.bytes.byteLength)
          : null;
      } catch {
        return null;
      }
    }),
  );
  return found.filter((d): d is ReferrerDescriptor => d !== null);
}

/** The query of a referrers listing: a page, and an optional `artifactType` filter. */
export interface ReferrersQuery {
  readonly page: PageRequest;
  readonly artifactType: string | undefined;
}

/** Parses `n`, `last` and `artifactType`. */
export function referrersQuery(query: URLSearchParams, ctx: RegistryContext): ReferrersQuery {
  const artifactType = query.get('artifactType');
  return {
    page: parsePage(query, ctx.limits.pageSize),
    artifactType: artifactType === null || artifactType === '' ? undefined : artifactType,
  };
}

/** GET `/v2/<name>/referrers/<digest>`. */
export async function listReferrers(
  ctx: RegistryContext,
  call: RouteCallOf<'referrers'>,
  { page, artifactType }: ReferrersQuery,
): Promise<RegistryResponse> {
  const {
    repository: name,
    subject: { digest },
  } = call.params;
  const byDigest = new Map<string, ReferrerDescriptor>();
  for (const d of await taggedReferrers(ctx, name, digest)) byDigest.set(d.digest, d);
  const indexed = await ctx.storage.metadata.listReferrers(name, digest);
  // An entry whose revision is gone (a crash between the two deletes) is not listed.
  const live = await Promise.all(indexed.map((d) => ctx.storage.metadata.getManifest(name, d.digest)));
  indexed.forEach((d, i) => {
    if (live[i]) byDigest.set(d.digest, d);
  });
  let referrers = [...byDigest.values()].sort((a, b) =>
    a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0,
  );

  const headers: Record<string, string> = { 'Content-Type': MediaType.OciIndex };
  if (artifactType !== undefined) {
    referrers = referrers.filter((d) => d.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }

  const { limit, last } = page;
  if (last !== undefined) referrers = referrers.filter((d) => d.digest > last);
  if (limit === 0) {
    referrers = [];
  } else if (referrers.length > limit) {
    referrers = referrers.slice(0, limit);
    headers.Link = nextLink(`/v2/${name}/referrers/${digest}`, {
      n: limit,
      last: referrers[referrers.length - 1]!.digest,
      ...(artifactType ? { artifactType } : {}),
    });
  }
  return jsonResponse(
    200,
    { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: referrers },
    headers,
  );
}
