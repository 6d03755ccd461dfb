/**
 * The public types of pull-through caching: how an upstream registry is configured, and what the
 * proxy reports to events and observers.
 */

/** Credentials for an upstream registry: a user name and password (or access token), or a bearer token. */
export type UpstreamCredentials =
  | { readonly username: string; readonly password: string }
  | { readonly token: string };

/**
 * Supplies credentials when the upstream asks for them (a secret store, short-lived cloud
 * credentials). Called again whenever a token has to be fetched; `undefined` means anonymous.
 */
export type UpstreamCredentialsProvider = () =>
  | UpstreamCredentials
  | undefined
  | Promise<UpstreamCredentials | undefined>;

/** Timeouts of requests to an upstream, in milliseconds. */
export interface UpstreamTimeouts {
  /** Until the upstream's response headers arrive. Default 30 000. */
  readonly request?: number;
  /**
   * How long a cached tag waits for the upstream's answer before it is served stale (with a
   * `Warning`). Default 3 000.
   */
  readonly revalidate?: number;
  /** Longest pause between two chunks of an upstream body. Default 60 000. */
  readonly idle?: number;
}

/** What garbage collection (`registry.gc()`) removes from an upstream's cache. */
export interface UpstreamCacheOptions {
  /** Cached images not pulled for this long (milliseconds) are removed. Default: kept. */
  readonly maxUnusedAge?: number;
  /** When cached images take more than this many bytes, the least recently pulled go first. Default: no budget. */
  readonly maxBytes?: number;
}

/** An upstream registry whose repositories this registry serves as a pull-through cache. */
export interface UpstreamOptions {
  /**
   * The registry host clients name for this upstream (`docker.io`, `ghcr.io`, `quay.io`): the
   * `?ns=` value that selects it (containerd's mirror requests), and its name in logs, events and
   * metrics. A request's `ns` is only ever looked up among configured namespaces.
   */
  readonly namespace: string;
  /** The upstream's base URL, e.g. `https://registry-1.docker.io`. */
  readonly url: string;
  /**
   * Repositories whose names start with this prefix are pulled from the upstream without it:
   * with `hub/`, `hub/library/alpine` is the upstream's `library/alpine`. It is also where the
   * upstream's content is cached, whichever way it was requested. Must end with `/`; the empty
   * prefix makes every repository no other prefix claims this upstream's (a pure mirror, as
   * distribution's `proxy` mode). Default: the namespace and a slash (`docker.io/`).
   */
  readonly prefix?: string;
  /** Credentials for the upstream (HTTP Basic, or Docker token authentication). Default: anonymous. */
  readonly credentials?: UpstreamCredentials | UpstreamCredentialsProvider;
  /**
   * How long (milliseconds) a cached tag is served without asking the upstream whether it moved.
   * Default 60 000. Manifests by digest and blobs are immutable and never revalidated.
   */
  readonly tagFreshness?: number;
  /**
   * Upstream repositories that may be pulled, as globs (`*` within one path component, `**`
   * across components): `['library/*']`. Default: all.
   */
  readonly allow?: readonly string[];
  /** Upstream repositories that may not be pulled, even when `allow` matches them. */
  readonly deny?: readonly string[];
  /** Most requests in flight to the upstream at once (others wait). Default 16. */
  readonly maxConcurrency?: number;
  /**
   * Accept pushes under the prefix as local overrides: a tag pushed here is served instead of the
   * upstream's. Default false: pushes and deletes answer 405 `UNSUPPORTED`.
   */
  readonly localOverrides?: boolean;
  readonly timeouts?: UpstreamTimeouts;
  /** Removal of cached content by garbage collection. Default: cached content is kept. */
  readonly cache?: UpstreamCacheOptions;
  /** Where cold blobs are spooled while they stream to clients and storage. Default: the OS temporary directory. */
  readonly spoolDirectory?: string;
}

/** What kind of content a cache lookup was for. */
export type ProxyContentKind = 'manifest' | 'tag' | 'blob' | 'tags' | 'referrers';

/**
 * A pull of proxied content:
 *
 * - `hit`: served from storage without asking the upstream;
 * - `revalidated`: a cached tag the upstream confirmed;
 * - `miss`: fetched from the upstream (and cached);
 * - `stale`: served from the cache because the upstream failed (the response has a `Warning`);
 * - `error`: the upstream failed and nothing was cached.
 */
export interface ProxyCacheEvent {
  /** The upstream's namespace. */
  readonly upstream: string;
  /** The local repository (where the content is cached). */
  readonly repository: string;
  readonly kind: ProxyContentKind;
  readonly outcome: 'hit' | 'revalidated' | 'miss' | 'stale' | 'error';
}

/** One request to an upstream registry, once its body was read (or it failed). */
export interface UpstreamRequestEvent {
  /** The upstream's namespace. */
  readonly upstream: string;
  readonly method: string;
  /** What was asked for. `token` is a request to the upstream's token endpoint. */
  readonly kind: 'manifest' | 'blob' | 'tags' | 'referrers' | 'token';
  /** The final status, or `undefined` when no response arrived. */
  readonly status: number | undefined;
  /** Why it failed, when it did: `unreachable`, `timeout`, `truncated`, … */
  readonly error: string | undefined;
  /** Response body bytes received. */
  readonly bytes: number;
  readonly durationSeconds: number;
}

/** Events of the pull-through cache, delivered through `onEvent` with the registry's own. */
export type ProxyEvent =
  | {
      /** Content fetched from an upstream was verified and stored. */
      readonly type: 'proxy.cached';
      readonly upstream: string;
      readonly repository: string;
      readonly kind: 'manifest' | 'blob';
      readonly digest: string;
      readonly size: number;
    }
  | {
      /** An upstream failed a pull; `stale` says whether cached content was served instead. */
      readonly type: 'proxy.failed';
      readonly upstream: string;
      readonly repository: string;
      readonly reference: string;
      readonly status: number;
      readonly message: string;
      readonly stale: boolean;
    };
