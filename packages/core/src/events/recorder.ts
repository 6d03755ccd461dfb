import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { RegistryRequest } from '../http/types.js';
import type { Logger } from '../logging.js';
import { readManifestBytes } from '../stores/helpers.js';
import type { BlobStore } from '../stores/types.js';
import type { EventDispatcher } from './pipeline.js';
import type { EventSource, RegistryEvent, RegistryEventData } from './types.js';

/** Config media types of plain images: not an artifact type worth reporting. */
const IMAGE_CONFIGS = new Set<string>([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/** What a request's scope tells an event about its cause. */
export interface EventOrigin {
  readonly request: RegistryRequest;
  readonly requestId: string;
  readonly user: string | undefined;
}

export interface RecorderSettings {
  readonly source: EventSource;
  readonly dispatcher: EventDispatcher | undefined;
  readonly onEvent: ((event: RegistryEvent) => void | Promise<void>) | undefined;
  /** Record pulls durably too. */
  readonly pulls: boolean;
  readonly blobs: BlobStore;
  readonly manifestMaxBytes: number;
  readonly logger: Logger;
  /** Dates events (`RegistryOptions.clock`). */
  readonly clock: Clock;
}

/** Attaches context to events and hands them to the outbox and the in-process subscriber. */
export class EventRecorder {
  readonly #settings: RecorderSettings;
  /** Whether anything consumes events (otherwise handlers' events are dropped at once). */
  readonly active: boolean;

  constructor(settings: RecorderSettings) {
    this.#settings = settings;
    this.active = settings.onEvent !== undefined || (settings.dispatcher?.endpoints.length ?? 0) > 0;
  }

  /** An event with its id, time, actor, request and source. */
  stamp(data: RegistryEventData, origin?: EventOrigin): RegistryEvent {
    const request = origin?.request;
    const header = (name: string) => request?.headers.get(name) ?? undefined;
    const host = header('host');
    const userAgent = header('user-agent');
    return {
      ...data,
      id: randomUUID(),
      timestamp: new Date(this.#settings.clock.now()).toISOString(),
      actor: origin?.user === undefined ? {} : { name: origin.user },
      ...(origin && request
        ? {
            request: {
              id: origin.requestId,
              ...(request.remoteAddress === undefined ? {} : { addr: request.remoteAddress }),
              ...(host === undefined ? {} : { host }),
              method: request.method,
              ...(userAgent === undefined ? {} : { userAgent }),
            },
          }
        : {}),
      source: this.#settings.source,
    };
  }

  /**
   * Records events durably (when endpoints are configured; pulls only when asked), then hands them
   * to `onEvent`. Rejects when they could not be recorded: the caller must not acknowledge the change.
   */
  async publish(events: readonly RegistryEvent[]): Promise<void> {
    if (events.length === 0 || !this.active) return;
    const complete = await Promise.all(events.map((event) => this.#complete(event)));
    const { dispatcher, pulls, onEvent, logger } = this.#settings;
    const durable = pulls
      ? complete
      : complete.filter((e) => e.type !== 'manifest.pulled' && e.type !== 'blob.pulled');
    if (dispatcher && durable.length > 0) await dispatcher.record(durable);
    if (!onEvent) return;
    for (const event of complete) {
      try {
        Promise.resolve(onEvent(event)).catch((err: unknown) =>
          logger.warn({ err }, 'event listener failed'),
        );
      } catch (err) {
        logger.warn({ err }, 'event listener failed');
      }
    }
  }

  /** Adds what the handler did not report: a pushed manifest's artifact type. */
  async #complete(event: RegistryEvent): Promise<RegistryEvent> {
    if (event.type !== 'manifest.pushed' || 'artifactType' in event) return event;
    const bytes = await readManifestBytes(
      this.#settings.blobs,
      event.digest,
      this.#settings.manifestMaxBytes,
    ).catch(() => null);
    if (!bytes) return event;
    let document: { artifactType?: unknown; config?: { mediaType?: unknown } };
    try {
      document = JSON.parse(bytes.toString('utf8')) as typeof document;
    } catch {
      return event;
    }
    const configType = document.config?.mediaType;
    const artifactType =
      typeof document.artifactType === 'string'
        ? document.artifactType
        : typeof configType === 'string' && !IMAGE_CONFIGS.has(configType)
          ? configType
          : undefined;
    return artifactType === undefined ? event : { ...event, artifactType };
  }
}
