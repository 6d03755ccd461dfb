import type { RegistryEvent, RegistryEventType } from './types.js';

/** The body formats an endpoint can receive. */
export type EventFormat = 'distribution' | 'cloudevents';

/** One delivery attempt, as a custom transport receives it. */
export interface EventDelivery {
  /** The endpoint's name. */
  readonly endpoint: string;
  /** The events, after the endpoint's filters (never empty). */
  readonly events: readonly RegistryEvent[];
  /** The formatted body (see `format`). */
  readonly body: Uint8Array;
  /** `Content-Type`, the signature header and the endpoint's own headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Aborts when the endpoint's timeout expires or the dispatcher stops. */
  readonly signal: AbortSignal;
}

/**
 * Delivers one batch somewhere (a queue, a log, another service). Resolving means delivered;
 * throwing (or rejecting) means failed, and the batch is retried with backoff.
 */
export type EventTransport = (delivery: EventDelivery) => void | Promise<void>;

/** Filters of distribution's `ignore` block. */
export interface EventIgnore {
  /** Media types whose events are not sent (manifest pushes and pulls of that type). */
  readonly mediaTypes?: readonly string[];
  /** distribution's actions not sent: `push`, `pull`, `mount`, `delete`. */
  readonly actions?: readonly string[];
}

/** A receiver of events. */
export interface EventEndpoint {
  /**
   * A stable name (letters, digits, `.`, `_`, `-`; at most 64): delivery progress and dead letters
   * are kept under it, so renaming an endpoint redelivers what is still queued.
   */
  readonly name: string;
  /** Where events are POSTed (`http:` or `https:`). Exactly one of `url` and `transport`. */
  readonly url?: string;
  /** A function that delivers instead of an HTTP POST. */
  readonly transport?: EventTransport;
  /**
   * `distribution` (default): CNCF distribution's envelope
   * (`application/vnd.docker.distribution.events.v1+json`); `cloudevents`: CloudEvents 1.0
   * structured JSON (`application/cloudevents-batch+json` when a batch holds several).
   */
  readonly format?: EventFormat;
  /** Extra request headers (a list repeats the header). They may override `Content-Type`. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** Milliseconds one attempt may take. Default 5000. */
  readonly timeout?: number;
  /**
   * Shared secret: each request carries `X-Wharf-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
   * the body with this key.
   */
  readonly secret?: string;
  /** Consecutive failures after which this replica pauses the endpoint (as distribution). Default 10. */
  readonly threshold?: number;
  /** First retry delay in milliseconds, doubled per failed attempt. Default 1000. */
  readonly backoff?: number;
  /** Longest retry delay in milliseconds. Default 5 minutes. */
  readonly maxBackoff?: number;
  /** Failed attempts after which a batch is dead-lettered for this endpoint. Default 30. */
  readonly maxAttempts?: number;
  /**
   * `repository` (default): the events of one repository arrive in the order they were recorded;
   * a batch being retried holds back the later batches of its repositories (only those).
   * `none`: batches are delivered independently.
   */
  readonly ordering?: 'repository' | 'none';
  /** Batches delivered at once to this endpoint by one replica. Default 4. */
  readonly concurrency?: number;
  /** Only these event types (default all recorded types). */
  readonly types?: readonly RegistryEventType[];
  /**
   * Only repositories matching one of these patterns: `*` matches within a path component, `**`
   * across components (`team/**`, `apps/*`). Default all.
   */
  readonly repositories?: readonly string[];
  /** distribution's `ignoredmediatypes`. */
  readonly ignoredMediaTypes?: readonly string[];
  /** distribution's `ignore` block. */
  readonly ignore?: EventIgnore;
}

/** What happened to one batch at one endpoint (for metrics and logs). */
export interface DeliveryReport {
  readonly endpoint: string;
  /** The outbox entry (one request's events). */
  readonly entry: string;
  readonly outcome: 'delivered' | 'failed' | 'dead-lettered';
  readonly events: number;
  readonly attempt: number;
  readonly durationSeconds: number;
  /** Why it failed. */
  readonly error?: string;
}

/** Options of the durable event pipeline (`createRegistry({ events })`). */
export interface EventsOptions {
  /** Where events are delivered. Without endpoints nothing is recorded (`onEvent` still works). */
  readonly endpoints?: readonly EventEndpoint[];
  /**
   * Record pulls (`manifest.pulled`, `blob.pulled`) durably too. Default false: every pull would
   * then cost a storage write.
   */
  readonly pulls?: boolean;
  /** This instance, as events name it. Default: a fresh UUID and the host name. */
  readonly source?: { readonly instanceId?: string; readonly addr?: string };
  /**
   * Base URL of the registry for the `url` of distribution's targets (`https://registry.example`).
   * Default: `http://` and the request's `Host`.
   */
  readonly baseUrl?: string;
  /** Milliseconds between looks at the outbox when idle. Default 1000. */
  readonly pollInterval?: number;
  /**
   * Milliseconds a replica owns a batch it started delivering before another may take it over
   * (after a crash). Default 30 s, and at least twice the longest endpoint timeout.
   */
  readonly leaseDuration?: number;
  /** Start delivering at once. Default true; `false` records only (run `registry.events.start()`). */
  readonly autoStart?: boolean;
  /** Called after every attempt (metrics). */
  readonly onDelivery?: (report: DeliveryReport) => void;
}
