import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { contentLength } from '../http/body.js';
import type { RegistryRequest } from '../http/types.js';
import type { Logger } from '../logging.js';
import type { EventDispatcher } from './pipeline.js';
import type { EventSource, RegistryEvent, RegistryEventData } from './types.js';
import type { Writers } from './writers.js';

/** What a request's scope tells an event about its cause. */
export interface EventOrigin {
  readonly request: RegistryRequest;
  readonly requestId: string;
  readonly user: string | undefined;
}

export interface RecorderSettings {
  readonly source: EventSource;
  readonly dispatcher: EventDispatcher | undefined;
  /** The requests that may record events, which the dispatcher's group commits wait for. */
  readonly writers: Writers;
  readonly onEvent: ((event: RegistryEvent) => void | Promise<void>) | undefined;
  /** Record pulls durably too. */
  readonly pulls: boolean;
  readonly logger: Logger;
  /** Dates events (`RegistryOptions.clock`). */
  readonly clock: Clock;
}

/**
 * The largest declared body of a request that group commits wait for. A request streaming more (or
 * a body of unknown length, such as a chunked PATCH) takes far longer than a commit's wait
 * (docs/architecture.md, "Events"): every commit made while it streams would wait the whole delay
 * for it, and its events join a later commit anyway.
 */
const SHORT_BODY_BYTES = 1024 * 1024;

/** Whether the request declares a body of at most {@link SHORT_BODY_BYTES} (a valid length). */
function declaresShortBody(request: RegistryRequest): boolean {
  try {
    const declared = contentLength(request);
    return declared !== undefined && declared <= SHORT_BODY_BYTES;
  } catch {
    // A malformed length: the handler refuses the request; nothing to wait for.
    return false;
  }
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

  /**
   * Counts a request in while it is handled when it may record events durably (a change; a pull
   * when pulls are recorded) and will be handled soon; resolves the function to call when it is
   * handled, or `undefined`.
   */
  enter(request: RegistryRequest): (() => void) | undefined {
    const { dispatcher, pulls, writers } = this.#settings;
    if (!dispatcher || dispatcher.endpoints.length === 0) return undefined;
    const { method } = request;
    if (!pulls && (method === 'GET' || method === 'HEAD')) return undefined;
    if (request.body !== null && !declaresShortBody(request)) return undefined;
    return writers.enter();
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
    const { dispatcher, pulls, onEvent, logger } = this.#settings;
    const durable = pulls
      ? events
      : events.filter((e) => e.type !== 'manifest.pulled' && e.type !== 'blob.pulled');
    if (dispatcher && durable.length > 0) await dispatcher.record(durable);
    if (!onEvent) return;
    for (const event of events) {
      try {
        Promise.resolve(onEvent(event)).catch((err: unknown) =>
          logger.warn({ err }, 'event listener failed'),
        );
      } catch (err) {
        logger.warn({ err }, 'event listener failed');
      }
    }
  }
}
