import { tmpdir } from 'node:os';
import { OptionsError } from '../errors.js';
import { isRepositoryName } from '../oci/names.js';
import { compileGlobs } from '../util/glob.js';
import type { UpstreamCredentials, UpstreamCredentialsProvider, UpstreamOptions } from './types.js';

/** An upstream's options, validated and with every default applied. */
export interface UpstreamConfig {
  /** The namespace, lower-cased (hosts are case-insensitive). */
  readonly namespace: string;
  /** The base URL. */
  readonly url: URL;
  /** Ends with `/`, or is empty: every repository no other upstream's prefix claims. */
  readonly prefix: string;
  readonly credentials: UpstreamCredentials | UpstreamCredentialsProvider | undefined;
  readonly tagFreshness: number;
  readonly allowed: (remote: string) => boolean;
  readonly maxConcurrency: number;
  readonly localOverrides: boolean;
  readonly timeouts: { readonly request: number; readonly revalidate: number; readonly idle: number };
  readonly cache: { readonly maxUnusedAge: number | undefined; readonly maxBytes: number | undefined };
  readonly spoolDirectory: string;
  /** Docker Hub keeps official images under `library/`; a one-component name means one of them. */
  readonly officialImages: boolean;
}

const FACTORY = 'createRegistry';

function fail(path: string, problem: string): never {
  throw new OptionsError(FACTORY, path, problem);
}

function duration(path: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    fail(path, `must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds`);
  }
  return value;
}

function optionalLimit(path: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
    fail(path, 'must be a non-negative number');
  return value;
}

function checkCredentials(path: string, value: UpstreamOptions['credentials']): void {
  if (value === undefined || typeof value === 'function') return;
  if (typeof value !== 'object' || value === null) fail(path, 'must be an object or a function');
  const record = value as Record<string, unknown>;
  if ('token' in record) {
    if (typeof record.token !== 'string' || record.token === '')
      fail(`${path}.token`, 'must be a non-empty string');
    return;
  }
  if (typeof record.username !== 'string' || record.username === '' || record.username.includes(':')) {
    fail(`${path}.username`, 'must be a non-empty string without ":"');
  }
  if (typeof record.password !== 'string') fail(`${path}.password`, 'must be a string');
}

function patterns(path: string, value: readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || p === '')) {
    fail(path, 'must be a list of non-empty repository globs');
  }
  return value;
}

/** Validates one upstream's options (`at` is its path in the options, for messages). */
function resolveUpstream(options: UpstreamOptions, at: string): UpstreamConfig {
  if (typeof options !== 'object' || options === null) fail(at, 'must be an object');
  const namespace = typeof options.namespace === 'string' ? options.namespace.trim().toLowerCase() : '';
  if (namespace === '' || namespace.length > 255 || /[\s/?#]/.test(namespace)) {
    fail(`${at}.namespace`, 'must be a registry host name such as "docker.io"');
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    fail(`${at}.url`, 'must be an http or https URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    fail(`${at}.url`, 'must be an http or https URL without query or fragment');
  }
  if (url.username !== '' || url.password !== '')
    fail(`${at}.url`, 'must not carry credentials (use "credentials")');

  const prefix = options.prefix ?? `${namespace}/`;
  const validPrefix =
    typeof prefix === 'string' &&
    (prefix === '' || (prefix.endsWith('/') && isRepositoryName(prefix.slice(0, -1))));
  if (!validPrefix) {
    fail(
      `${at}.prefix`,
      options.prefix === undefined
        ? `is required: the namespace ${JSON.stringify(namespace)} is not a repository name component`
        : 'must be a repository name followed by "/", such as "hub/", or "" for every repository',
    );
  }
  checkCredentials(`${at}.credentials`, options.credentials);
  const allow = compileGlobs(patterns(`${at}.allow`, options.allow) ?? ['**']);
  const deny = compileGlobs(patterns(`${at}.deny`, options.deny) ?? []);
  const maxConcurrency = options.maxConcurrency ?? 16;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1)
    fail(`${at}.maxConcurrency`, 'must be a positive integer');
  const spoolDirectory = options.spoolDirectory ?? tmpdir();
  if (typeof spoolDirectory !== 'string' || spoolDirectory === '')
    fail(`${at}.spoolDirectory`, 'must be a non-empty path');
  return {
    namespace,
    url,
    prefix,
    credentials: options.credentials,
    tagFreshness: duration(`${at}.tagFreshness`, options.tagFreshness, 60_000, true),
    allowed: (remote) => allow(remote) && !deny(remote),
    maxConcurrency,
    localOverrides: options.localOverrides === true,
    timeouts: {
      request: duration(`${at}.timeouts.request`, options.timeouts?.request, 30_000),
      revalidate: duration(`${at}.timeouts.revalidate`, options.timeouts?.revalidate, 3_000),
      idle: duration(`${at}.timeouts.idle`, options.timeouts?.idle, 60_000),
    },
    cache: {
      maxUnusedAge: optionalLimit(`${at}.cache.maxUnusedAge`, options.cache?.maxUnusedAge),
      maxBytes: optionalLimit(`${at}.cache.maxBytes`, options.cache?.maxBytes),
    },
    spoolDirectory,
    officialImages: namespace === 'docker.io',
  };
}

/**
 * Validates the `upstreams` option: each upstream on its own, then that no two share a namespace
 * or a prefix (a name must route to one upstream only).
 */
export function resolveUpstreams(upstreams: readonly UpstreamOptions[] | undefined): UpstreamConfig[] {
  if (upstreams === undefined) return [];
  if (!Array.isArray(upstreams)) fail('upstreams', 'must be a list');
  const resolved = upstreams.map((options, i) => resolveUpstream(options, `upstreams[${i}]`));
  resolved.forEach((upstream, i) => {
    const earlier = resolved.slice(0, i);
    if (earlier.some((other) => other.namespace === upstream.namespace)) {
      fail(`upstreams[${i}].namespace`, `repeats ${JSON.stringify(upstream.namespace)}`);
    }
    if (earlier.some((other) => other.prefix === upstream.prefix)) {
      fail(`upstreams[${i}].prefix`, `repeats ${JSON.stringify(upstream.prefix)}`);
    }
  });
  return resolved;
}
