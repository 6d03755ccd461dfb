import { createHash } from 'node:crypto';
import { RegistryError } from '../errors.js';
import { isRepositoryName, isTag } from '../oci/names.js';
import type { MetadataStore } from '../stores/types.js';
import type { ProxyServices, ProxyTarget, Upstream } from './services.js';

/**
 * The upstream whose prefix a local repository name falls under (the longest prefix wins, so an
 * empty prefix takes only what no other claims).
 */
export function upstreamOf(proxy: ProxyServices, name: string): Upstream | undefined {
  let found: Upstream | undefined;
  for (const upstream of proxy.upstreams) {
    const { prefix } = upstream.config;
    if (name.length > prefix.length && name.startsWith(prefix)) {
      if (!found || prefix.length > found.config.prefix.length) found = upstream;
    }
  }
  return found;
}

/**
 * Where a pull goes: to the upstream whose namespace `ns` names (the repository is then the
 * upstream's name), or to the upstream whose prefix the name starts with, or nowhere (a local
 * repository). `ns` is only ever a key into the configured upstreams: a namespace none of them has
 * is `NAME_UNKNOWN` and nothing is dialled. Repositories the upstream's allow/deny rules exclude
 * are `DENIED`.
 */
export function routePull(proxy: ProxyServices, name: string, ns: string | null): ProxyTarget | undefined {
  let upstream: Upstream | undefined;
  let remote: string;
  if (ns !== null && ns !== '') {
    const key = ns.trim().toLowerCase();
    upstream = proxy.upstreams.find((u) => u.config.namespace === key);
    if (!upstream) {
      throw new RegistryError('NAME_UNKNOWN', {
        message: `no upstream is configured for namespace ${JSON.stringify(ns.slice(0, 255))}`,
        detail: { namespace: ns.slice(0, 255) },
      });
    }
    remote = name;
  } else {
    upstream = upstreamOf(proxy, name);
    if (!upstream) return undefined;
    remote = name.slice(upstream.config.prefix.length);
  }
  const { config } = upstream;
  // Docker Hub's official images live under `library/`, which clients leave out.
  if (config.officialImages && !remote.includes('/')) remote = `library/${remote}`;
  if (!config.allowed(remote)) {
    throw new RegistryError('DENIED', {
      message: `repository ${remote} is not available from upstream ${config.namespace}`,
      detail: { name },
    });
  }
  const local = `${config.prefix}${remote}`;
  if (!isRepositoryName(local)) {
    throw new RegistryError('NAME_INVALID', {
      message: `the cached name ${local.slice(0, 300)} is too long`,
      detail: { name },
    });
  }
  return { upstream, local, remote, name, namespace: ns !== null && ns !== '' ? ns : undefined };
}

/**
 * Refuses a write (push, delete) to a repository under a proxied prefix, unless its upstream
 * accepts local overrides. Resolves the upstream when the write is an override.
 */
export function checkWrite(proxy: ProxyServices, name: string): Upstream | undefined {
  const upstream = upstreamOf(proxy, name);
  if (!upstream) return undefined;
  if (!upstream.config.localOverrides) {
    throw new RegistryError('UNSUPPORTED', {
      message: `${name} is a pull-through cache of ${upstream.config.namespace}: it cannot be written to`,
      detail: { name, upstream: upstream.config.namespace },
    });
  }
  return upstream;
}

/**
 * Local overrides (a tag pushed under a proxied prefix wins over the upstream's) are recorded as a
 * marker tag next to the tag, pointing at a digest no manifest has: garbage collection ignores it
 * and it survives restarts and other replicas. Upstream tags shaped like a marker are never cached.
 */
const MARKER_PREFIX = 'wharf-local.';
export const MARKER_TARGET = `sha256:${'0'.repeat(64)}`;

/** The marker tag that says `tag` was pushed here. */
export function overrideMarker(tag: string): string {
  return `${MARKER_PREFIX}${createHash('sha256').update(tag).digest('hex').slice(0, 40)}`;
}

/** Whether a tag is an override marker. */
export function isOverrideMarker(tag: string): boolean {
  return tag.startsWith(MARKER_PREFIX);
}

/** Marks tags as pushed here, before the push writes them (a pull meanwhile never overwrites them). */
export async function markOverrides(
  metadata: MetadataStore,
  name: string,
  tags: readonly string[],
): Promise<void> {
  await Promise.all(
    tags
      .filter((tag) => isTag(tag) && !isOverrideMarker(tag))
      .map((tag) => metadata.putTag(name, overrideMarker(tag), MARKER_TARGET)),
  );
}

/** Removes the override markers of deleted tags. */
export async function unmarkOverrides(
  metadata: MetadataStore,
  name: string,
  tags: readonly string[],
): Promise<void> {
  await Promise.all(tags.filter(isTag).map((tag) => metadata.deleteTag(name, overrideMarker(tag))));
}
