import type { RegistryEvent } from '../types.js';

/** CloudEvents 1.0 structured mode, one event. */
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json';
/** CloudEvents 1.0 batched mode (a JSON array of structured events). */
export const CLOUDEVENTS_BATCH_MEDIA_TYPE = 'application/cloudevents-batch+json';

/** The `type` attribute's prefix: `wharf.manifest.pushed`, `wharf.blob.pushed`, … */
export const CLOUDEVENTS_TYPE_PREFIX = 'wharf.';

/** A CloudEvents 1.0 event in structured JSON. */
export interface WharfCloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  /** `baseUrl` when configured, else `urn:wharf:instance:<instanceId>`. */
  readonly source: string;
  readonly type: string;
  readonly time: string;
  /** `<repository>` (and `@<digest>` when the event names one). */
  readonly subject?: string;
  readonly datacontenttype: 'application/json';
  /** The registry event without its id and time (those are attributes). */
  readonly data: Record<string, unknown>;
}

/** One registry event as a CloudEvent. */
export function toCloudEvent(event: RegistryEvent, baseUrl?: string): WharfCloudEvent {
  const { id, timestamp, type, ...data } = event;
  const digest = 'digest' in event ? event.digest : undefined;
  const subject =
    event.repository === undefined ? undefined : digest ? `${event.repository}@${digest}` : event.repository;
  return {
    specversion: '1.0',
    id,
    source: baseUrl ?? `urn:wharf:instance:${encodeURIComponent(event.source.instanceId)}`,
    type: `${CLOUDEVENTS_TYPE_PREFIX}${type}`,
    time: timestamp,
    ...(subject === undefined ? {} : { subject }),
    datacontenttype: 'application/json',
    data: { type, ...data },
  };
}

/** A batch in CloudEvents structured (one event) or batched (several) JSON. */
export function cloudEventsBody(
  events: readonly RegistryEvent[],
  baseUrl?: string,
): { contentType: string; body: string } {
  const cloud = events.map((event) => toCloudEvent(event, baseUrl));
  return cloud.length === 1
    ? { contentType: CLOUDEVENTS_MEDIA_TYPE, body: JSON.stringify(cloud[0]) }
    : { contentType: CLOUDEVENTS_BATCH_MEDIA_TYPE, body: JSON.stringify(cloud) };
}
