import type { RegistryEvent } from '../types.js';

/**
 * CNCF distribution's notification envelope, as distribution 2.8 sends it (distribution 3 sends the
 * same fields under `application/vnd.docker.distribution.events.v2+json`; an endpoint's headers
 * may set that `Content-Type` instead).
 */
export const DISTRIBUTION_EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

/** distribution's media type of blob targets (it does not know what a blob holds). */
const BLOB_MEDIA_TYPE = 'application/octet-stream';

/** One event of distribution's envelope (`notifications.Event`). */
export interface DistributionEvent {
  readonly id: string;
  readonly timestamp: string;
  readonly action: 'push' | 'pull' | 'mount' | 'delete';
  readonly target: {
    readonly mediaType?: string;
    readonly digest?: string;
    readonly size?: number;
    readonly length?: number;
    readonly repository?: string;
    readonly fromRepository?: string;
    readonly url?: string;
    readonly tag?: string;
  };
  readonly request: {
    readonly id: string;
    readonly addr?: string;
    readonly host?: string;
    readonly method: string;
    readonly useragent: string;
  };
  readonly actor: { readonly name?: string };
  readonly source: { readonly addr?: string; readonly instanceID?: string };
}

/**
 * distribution's action for an event, or `undefined` when distribution has none (a GC summary, the
 * pull-through cache's own events: its pulls are reported as pulls).
 */
export function distributionAction(event: RegistryEvent): DistributionEvent['action'] | undefined {
  switch (event.type) {
    case 'blob.pushed':
    case 'manifest.pushed':
      return 'push';
    case 'blob.pulled':
    case 'manifest.pulled':
      return 'pull';
    case 'blob.mounted':
      return 'mount';
    case 'gc.swept':
      return event.repository === undefined ? undefined : 'delete';
    case 'proxy.cached':
    case 'proxy.failed':
      return undefined;
    default:
      return 'delete';
  }
}

/** The media type distribution would report for an event's target, when it knows one. */
export function targetMediaType(event: RegistryEvent): string | undefined {
  switch (event.type) {
    case 'manifest.pushed':
      return event.mediaType;
    case 'blob.pushed':
    case 'blob.pulled':
      return BLOB_MEDIA_TYPE;
    default:
      return undefined;
  }
}

/** Drops `undefined` fields, so the JSON has only what is known (distribution's `omitempty`). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The envelope events for one registry event: a manifest pushed with several tags becomes one
 * event per tag (distribution's events carry one tag), a repository's GC sweep one `delete` per
 * revision and link, and a GC summary nothing.
 */
export function toDistributionEvents(event: RegistryEvent, baseUrl?: string): DistributionEvent[] {
  const action = distributionAction(event);
  if (!action) return [];
  const base = baseUrl ?? (event.request?.host ? `http://${event.request.host}` : undefined);
  const url = (kind: 'blobs' | 'manifests', repository: string, digest: string): string | undefined =>
    base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v2/${repository}/${kind}/${digest}`;
  const common = {
    timestamp: event.timestamp,
    action,
    request: defined({
      id: event.request?.id ?? '',
      addr: event.request?.addr,
      host: event.request?.host,
      method: event.request?.method ?? '',
      useragent: event.request?.userAgent ?? '',
    }),
    actor: defined({ name: event.actor.name }),
    source: defined({ addr: event.source.addr, instanceID: event.source.instanceId }),
  };
  const one = (target: DistributionEvent['target'], index = 0): DistributionEvent => ({
    id: index === 0 ? event.id : `${event.id}.${index}`,
    ...common,
    target: defined(target),
  });
  switch (event.type) {
    case 'blob.pushed':
    case 'blob.pulled':
      return [
        one({
          mediaType: BLOB_MEDIA_TYPE,
          digest: event.digest,
          size: event.size,
          length: event.size,
          repository: event.repository,
          url: url('blobs', event.repository, event.digest),
        }),
      ];
    case 'blob.mounted':
      return [
        one({
          digest: event.digest,
          repository: event.repository,
          fromRepository: event.from,
          url: url('blobs', event.repository, event.digest),
        }),
      ];
    case 'manifest.pushed': {
      const target = {
        mediaType: event.mediaType,
        digest: event.digest,
        size: event.size,
        length: event.size,
        repository: event.repository,
        url: url('manifests', event.repository, event.digest),
      };
      if (event.tags.length === 0) return [one(target)];
      return event.tags.map((tag, index) => one({ ...target, tag }, index));
    }
    case 'manifest.pulled': {
      const byTag = !event.reference.includes(':');
      return [
        one({
          digest: event.digest,
          repository: event.repository,
          url: url('manifests', event.repository, event.digest),
          tag: byTag ? event.reference : undefined,
        }),
      ];
    }
    case 'blob.deleted':
    case 'manifest.deleted':
      return [one({ digest: event.digest, repository: event.repository })];
    case 'tag.deleted':
      return [one({ repository: event.repository, tag: event.tag })];
    case 'gc.swept': {
      const repository = event.repository;
      return [...event.manifests, ...event.links].map((digest, index) => one({ digest, repository }, index));
    }
    case 'proxy.cached':
    case 'proxy.failed':
      return [];
  }
}

/** distribution's envelope (`{"events": [...]}`) for a batch. */
export function distributionEnvelope(
  events: readonly RegistryEvent[],
  baseUrl?: string,
): { contentType: string; body: string } {
  const envelope = { events: events.flatMap((event) => toDistributionEvents(event, baseUrl)) };
  return { contentType: DISTRIBUTION_EVENTS_MEDIA_TYPE, body: JSON.stringify(envelope) };
}
