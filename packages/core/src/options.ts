import type { Clock } from './clock.js';
import type { EventsOptions } from './events/options.js';
import type { RegistryEvent } from './events/types.js';
import type { RouteMiddleware } from './http/route.js';
import type { RegistryRequest } from './http/types.js';
import type { Logger } from './logging.js';
import type { RegistryObserver } from './observe.js';
import type { UpstreamOptions } from './proxy/types.js';
import type { RegistryStorage } from './stores/types.js';

export type { RegistryEvent, RegistryEventData, RegistryEventType } from './events/types.js';

/** What a request wants to do, as the `authorize` hook sees it. */
export type RegistryAction = 'ping' | 'pull' | 'push' | 'delete' | 'catalog';

/**
 * The input of the `authorize` hook. `ping` is `GET /v2/` (where clients discover how to
 * authenticate); `catalog` is `GET /v2/_catalog`, whose entries are then filtered by `pull`.
 */
export interface AuthorizeContext {
  readonly action: RegistryAction;
  /** The repository, for `pull`, `push` and `delete`. */
  readonly repository?: string;
  readonly request: RegistryRequest;
  /**
   * Set when the check is on behalf of another request rather than the request's own action:
   * `catalog` filters `_catalog` entries by `pull`; `mount` checks `pull` on a mount's source.
   */
  readonly purpose?: 'catalog' | 'mount';
}

/**
 * The `authorize` hook's answer: `true` (or `{ allow: true }`) lets the request through; a denial
 * with status 401 asks for credentials (`challenge` becomes `WWW-Authenticate`), 403 refuses
 * (`false` is a 403). `user` names the caller for access logs, metrics and events.
 */
export type AuthDecision =
  | boolean
  | { readonly allow: true; readonly user?: string }
  | {
      readonly allow: false;
      readonly status?: 401 | 403;
      readonly challenge?: string;
      readonly message?: string;
    };

/**
 * Decides whether a request may proceed. It may also throw a `RegistryError` for other outcomes
 * (for example `TOOMANYREQUESTS` with a `Retry-After` header), which is sent as is.
 */
export type Authorizer = (context: AuthorizeContext) => AuthDecision | Promise<AuthDecision>;

/** Limits; every field has a default. */
export interface RegistryLimits {
  /** Largest manifest accepted; larger pushes get 413. Default 4 MiB. */
  manifestMaxBytes: number;
  /** Largest blob accepted (monolithic or the sum of chunks); larger gets 413. Default unlimited. */
  blobMaxBytes: number;
  /** Largest single PATCH chunk; larger gets 413. Default unlimited. */
  chunkMaxLength: number;
  /**
   * Advertised as `OCI-Chunk-Min-Length` (the larger of this and the upload store's own minimum).
   * Default: the upload store's minimum, or none.
   */
  chunkMinLength: number;
  /** Most `?tag=` values in one manifest push; more gets 414. Default 100. */
  tagsPerPush: number;
  /** Largest page of tags, repositories or referrers returned at once (bigger `n` is clamped, with a `Link`). Default 1000. */
  pageSize: number;
}

/** Behaviour toggles, so tests can emulate registries that lack a feature. Every field has a default. */
export interface RegistryFeatures {
  /** Manifest deletion by digest (`DELETE /manifests/<digest>`). Default true; off answers 405. */
  deleteManifests: boolean;
  /** Tag deletion (`DELETE /manifests/<tag>`). Default true; off answers 405. */
  deleteTags: boolean;
  /** Blob deletion. Default true; off answers 405. */
  deleteBlobs: boolean;
  /** The referrers API and `OCI-Subject`. Default true; off answers 404 to referrers requests. */
  referrers: boolean;
  /** Cross-repository mount with `?mount=&from=`. Default true; off falls back to an upload (202). */
  mount: boolean;
  /**
   * Mount without `from` when the blob exists anywhere in the registry. Default true. Ignored when
   * an `authorize` hook is set: it would tell callers that a blob exists in repositories they
   * cannot pull from.
   */
  automaticMount: boolean;
  /** `?tag=` on manifest push by digest. Default true; off ignores the parameter. */
  tagsOnPush: boolean;
  /** Single-request `POST ?digest=` uploads. Default true; off answers 202 and a session. */
  monolithicPost: boolean;
  /** Accept manifests whose referenced blobs or manifests do not exist. Default false. */
  sparseManifests: boolean;
  /** Honour `If-Match` / `If-None-Match` on manifest pushes by tag (412 on mismatch). Default true. */
  conditionalTagUpdates: boolean;
}

/** Options of `createRegistry`. */
export interface RegistryOptions {
  /** Where everything is stored. Default: fresh in-memory stores. */
  storage?: RegistryStorage;
  /** Access control; by default everything is allowed. */
  authorize?: Authorizer;
  limits?: Partial<RegistryLimits>;
  features?: Partial<RegistryFeatures>;
  /**
   * Where log lines go, fields first (pass a pino or bunyan logger as it is; wrap `console` with
   * `consoleLogger()`). A missing method is silent, so `{}` silences everything. Default: 5xx
   * responses are written to stderr with their error; nothing else.
   */
  logger?: Partial<Logger>;
  /** Metrics and tracing hooks: request start and end, store call timings. */
  observer?: RegistryObserver;
  /**
   * Wrappers around every route's handling, outermost first: each sees the matched route, its
   * validated path parameters and the request, and may answer, delay or change the response
   * (fault injection, the quirks of other registries). See {@link RouteMiddleware}.
   */
  middleware?: readonly RouteMiddleware[];
  /**
   * Receives every registry event in process, once the change is recorded (after the outbox
   * write when `events.endpoints` are configured), before the response is sent. Errors it throws
   * are logged, never sent to clients. Not durable: use `events` for delivery that survives crashes.
   */
  onEvent?: (event: RegistryEvent) => void | Promise<void>;
  /**
   * Durable notifications: endpoints (webhooks or custom transports) that receive every event at
   * least once, recorded in `storage.events` before the response that caused them is sent.
   */
  events?: EventsOptions;
  /** Lifetime of redirect URLs from `BlobStore.url`, in seconds. Default 900. */
  redirectExpiresIn?: number;
  /**
   * Where the registry reads the time: garbage collection's grace period and upload ages, and the
   * timestamps of the default in-memory stores. Default: the system clock. A test passes a clock it
   * moves by hand to age content without waiting.
   */
  clock?: Clock;
  /**
   * Upstream registries this registry serves as a pull-through cache, next to its local
   * repositories: pulls under an upstream's prefix (or with `?ns=` naming its namespace) are
   * answered from the cache or the upstream. Default: none.
   */
  upstreams?: readonly UpstreamOptions[];
}

/** Default limits. */
export const DEFAULT_LIMITS: Readonly<RegistryLimits> = {
  manifestMaxBytes: 4 * 1024 * 1024,
  blobMaxBytes: Number.POSITIVE_INFINITY,
  chunkMaxLength: Number.POSITIVE_INFINITY,
  chunkMinLength: 0,
  tagsPerPush: 100,
  pageSize: 1000,
};

/** Default features. */
export const DEFAULT_FEATURES: Readonly<RegistryFeatures> = {
  deleteManifests: true,
  deleteTags: true,
  deleteBlobs: true,
  referrers: true,
  mount: true,
  automaticMount: true,
  tagsOnPush: true,
  monolithicPost: true,
  sparseManifests: false,
  conditionalTagUpdates: true,
};
