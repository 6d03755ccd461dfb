import type { RegistryContext } from '../context.js';
import { getManifest } from '../handlers/manifests.js';
import type { RegistryRequest, RegistryResponse } from '../http/types.js';
import { parseDigest } from '../oci/digest.js';
import { pullBlob } from './blobs.js';
import { pullReferrers, pullTags, warningHeader } from './listings.js';
import { resolveManifest } from './manifests.js';
import { checkWrite, markOverrides, routePull, unmarkOverrides } from './routing.js';
import type { ProxyServices, ProxyTarget } from './services.js';

/** The pull endpoints a proxied repository answers from its upstream. */
export type ProxiedPull =
  | { readonly kind: 'manifest'; readonly reference: string }
  | { readonly kind: 'blob'; readonly digest: string }
  | { readonly kind: 'tags' }
  | { readonly kind: 'referrers'; readonly digest: string };

/** Adds what every proxied answer carries: `OCI-Namespace` when routed by `ns`, and a warning. */
function decorate(response: RegistryResponse, target: ProxyTarget, warning?: string): RegistryResponse {
  if (target.namespace !== undefined) response.headers['OCI-Namespace'] = target.namespace;
  if (warning !== undefined) response.headers.Warning = warningHeader(warning);
  return response;
}

async function answer(
  proxy: ProxyServices,
  ctx: RegistryContext,
  request: RegistryRequest,
  target: ProxyTarget,
  pull: ProxiedPull,
  query: URLSearchParams,
): Promise<RegistryResponse> {
  switch (pull.kind) {
    case 'manifest': {
      const { reference, warning } = await resolveManifest(proxy, target, pull.reference);
      return decorate(await getManifest(ctx, request, target.local, reference), target, warning);
    }
    case 'blob':
      return decorate(await pullBlob(proxy, request, target, parseDigest(pull.digest)), target);
    case 'tags':
      return decorate(await pullTags(proxy, target, query), target);
    case 'referrers':
      return decorate(await pullReferrers(proxy, request, target, parseDigest(pull.digest), query), target);
  }
}

/**
 * Answers a pull (GET or HEAD) of a repository under an upstream's prefix, or of any repository
 * with `?ns=` naming a configured upstream, after the `authorize` hook allowed pulling the
 * repository the content is cached in. Resolves `undefined` for a local repository (its own
 * handler answers).
 */
export async function proxyPull(
  ctx: RegistryContext,
  request: RegistryRequest,
  name: string,
  pull: ProxiedPull,
  query: URLSearchParams,
): Promise<RegistryResponse | undefined> {
  const proxy = ctx.proxy;
  if (!proxy) return undefined;
  const target = routePull(proxy, name, query.get('ns'));
  if (!target) return undefined;
  // Nothing reaches an upstream on behalf of a caller the hook refuses.
  await ctx.authorize(request, 'pull', target.local);
  return answer(proxy, ctx, request, target, pull, query);
}

/** A write to a repository: a manifest push or delete (with its tags), or any blob or upload write. */
export type ProxiedWrite =
  | { readonly kind: 'manifest-push'; readonly tags: readonly string[] }
  | { readonly kind: 'tag-delete'; readonly tag: string }
  | { readonly kind: 'other' };

/**
 * Runs a write to a repository under a proxied prefix: refused with `UNSUPPORTED` unless the
 * upstream accepts local overrides; then pushed tags are marked as overrides before the write
 * (so a concurrent pull never replaces them) and deleted tags unmarked after it.
 */
export async function proxyWrite(
  ctx: RegistryContext,
  name: string,
  write: ProxiedWrite,
  run: () => Promise<RegistryResponse>,
): Promise<RegistryResponse> {
  const proxy = ctx.proxy;
  if (!proxy || !checkWrite(proxy, name)) return run();
  const { metadata } = ctx.storage;
  if (write.kind === 'manifest-push') await markOverrides(metadata, name, write.tags);
  const response = await run();
  if (write.kind === 'tag-delete' && response.status < 300)
    await unmarkOverrides(metadata, name, [write.tag]);
  return response;
}
