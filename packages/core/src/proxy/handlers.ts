import type { RegistryContext } from '../context.js';
import { getManifest } from '../handlers/manifests.js';
import { referrersQuery } from '../handlers/referrers.js';
import { parsePage } from '../http/pagination.js';
import type { RouteCall, RouteCallOf } from '../http/route.js';
import type { RegistryResponse } from '../http/types.js';
import { parseDigest } from '../oci/digest.js';
import { pullBlob } from './blobs.js';
import { pullReferrers, pullTags, warningHeader } from './listings.js';
import { resolveManifest } from './manifests.js';
import { checkWrite, markOverrides, routePull, unmarkOverrides } from './routing.js';
import type { ProxyServices, ProxyTarget } from './services.js';

/** A call the pull-through cache takes over from the route table. */
export interface ProxiedRoute {
  /** The call as it runs: for a pull, `params.repository` names where the content is cached. */
  readonly call: RouteCall;
  /**
   * Like a route's `prepare`: validates the query, then (after `authorize` ran on {@link call})
   * the returned function answers.
   */
  prepare(): () => Promise<RegistryResponse>;
}

/** Adds what every proxied answer carries: `OCI-Namespace` when routed by `ns`, and a warning. */
function decorate(response: RegistryResponse, target: ProxyTarget, warning?: string): RegistryResponse {
  if (target.namespace !== undefined) response.headers['OCI-Namespace'] = target.namespace;
  if (warning !== undefined) response.headers.Warning = warningHeader(warning);
  return response;
}

/** A pull route's call, re-addressed to the repository the content is cached in. */
function localCall<C extends RouteCall>(call: C, target: ProxyTarget): C {
  return { ...call, params: { ...call.params, repository: target.local } };
}

async function pullManifest(
  proxy: ProxyServices,
  ctx: RegistryContext,
  call: RouteCallOf<'manifest'>,
  target: ProxyTarget,
): Promise<RegistryResponse> {
  const { reference } = call.params;
  const resolved = await resolveManifest(
    proxy,
    target,
    reference.kind === 'tag' ? reference.tag : reference.digest.digest,
  );
  const served: RouteCallOf<'manifest'> = {
    ...call,
    params: {
      repository: target.local,
      reference:
        resolved.reference === resolved.digest && reference.kind === 'tag'
          ? { kind: 'digest', digest: parseDigest(resolved.digest) }
          : reference,
    },
  };
  return decorate(await getManifest(ctx, served), target, resolved.warning);
}

/**
 * The handler of a pull of a proxied repository. `ctx` is the request's (its events join the
 * request's); downloads outlive requests and use the proxy's own.
 */
function pullHandler(
  proxy: ProxyServices,
  ctx: RegistryContext,
  call: RouteCall,
  target: ProxyTarget,
): ProxiedRoute | undefined {
  switch (call.route) {
    case 'manifest': {
      const local = localCall(call, target);
      return { call: local, prepare: () => () => pullManifest(proxy, ctx, local, target) };
    }
    case 'blob': {
      const local = localCall(call, target);
      return {
        call: local,
        prepare: () => async () => decorate(await pullBlob(proxy, ctx, local, target), target),
      };
    }
    case 'tags': {
      const local = localCall(call, target);
      return {
        call: local,
        prepare: () => {
          const page = parsePage(local.query, ctx.limits.pageSize);
          return async () => decorate(await pullTags(proxy, target, page), target);
        },
      };
    }
    case 'referrers': {
      const local = localCall(call, target);
      return {
        call: local,
        prepare: () => {
          const query = referrersQuery(local.query, ctx);
          return async () => decorate(await pullReferrers(proxy, ctx, local, target, query), target);
        },
      };
    }
    default:
      return undefined;
  }
}

/** Whether a call only reads (a pull), as opposed to a push or delete. */
function isPull(call: RouteCall): boolean {
  return call.action === 'pull';
}

/** The tags a manifest push writes: its reference's and the `?tag=` ones. */
function pushedTags(ctx: RegistryContext, call: RouteCallOf<'manifest'>): string[] {
  const { reference } = call.params;
  if (reference.kind === 'tag') return [reference.tag];
  return ctx.features.tagsOnPush ? call.query.getAll('tag') : [];
}

/**
 * Where the route table hands a call to the pull-through cache (docs/architecture.md, "Pull-through
 * cache"), after validation and before the middleware and `authorize`:
 *
 * - a pull of a repository under an upstream's prefix, or with `?ns=` naming a configured upstream,
 *   is answered from the cache or the upstream (`ns` naming anything else is `NAME_UNKNOWN`);
 * - a push or delete under a proxied prefix is refused with `UNSUPPORTED`, unless the upstream
 *   takes local overrides: then `next` answers it, with the pushed tags marked as overrides first
 *   (so a concurrent pull never replaces them) and deleted tags unmarked after;
 * - anything else is left to the route table (`undefined`).
 */
export function proxyRoute(
  ctx: RegistryContext,
  call: RouteCall,
  prepare: () => () => Promise<RegistryResponse>,
): ProxiedRoute | undefined {
  const proxy = ctx.proxy;
  const repository = call.params.repository;
  if (!proxy || repository === undefined) return undefined;
  if (isPull(call)) {
    const target = routePull(proxy, repository, call.query.get('ns'));
    return target && pullHandler(proxy, ctx, call, target);
  }
  if (!checkWrite(proxy, repository)) return undefined;
  const { metadata } = ctx.storage;
  return {
    call,
    prepare() {
      const handle = prepare();
      return async () => {
        if (call.route === 'manifest' && call.method === 'PUT') {
          await markOverrides(metadata, repository, pushedTags(ctx, call));
        }
        const response = await handle();
        if (call.route === 'manifest' && call.params.reference.kind === 'tag' && call.method === 'DELETE') {
          await unmarkOverrides(metadata, repository, [call.params.reference.tag]);
        }
        return response;
      };
    },
  };
}
