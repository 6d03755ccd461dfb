import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { OptionsError } from '../errors.js';
import { type Logger, resolveLogger } from '../logging.js';
import type { EventStore } from '../stores/types.js';
import { validateOption } from '../validate/checks.js';
import { Dispatcher, type EndpointStats } from './dispatcher.js';
import { positiveNumber, type ResolvedEndpoint, resolveEndpoint } from './endpoint.js';
import type { EventsOptions } from './options.js';
import { type DeadLetter, entryTime, Outbox } from './outbox.js';
import type { EventSource, RegistryEvent } from './types.js';
import type { Writers } from './writers.js';

/** Where one batch stands at one endpoint. */
export interface EndpointProgress {
  readonly endpoint: string;
  /**
   * `pending`: not attempted yet; `retrying`: failed before, the next attempt is due at
   * `nextAttemptAt`; `delivered`; `dead-lettered`; `skipped`: the endpoint's filters drop it.
   */
  readonly state: 'pending' | 'retrying' | 'delivered' | 'dead-lettered' | 'skipped';
  readonly attempts: number;
  readonly nextAttemptAt?: string;
  readonly error?: string;
}

/** A recorded batch not yet finished by every endpoint. */
export interface PendingBatch {
  /** The outbox entry key. */
  readonly key: string;
  /** When it was recorded (ISO 8601). */
  readonly recordedAt: string;
  readonly events: readonly RegistryEvent[];
  readonly endpoints: readonly EndpointProgress[];
}

/**
 * The durable event pipeline: records events in the outbox and delivers them to the endpoints.
 * `createRegistry({ events })` creates one (`registry.events`); `createEventDispatcher` creates one
 * over a store for tools (listing, replaying) or to record events a host produces itself.
 */
export interface EventDispatcher {
  /** The configured endpoint names. */
  readonly endpoints: readonly string[];
  /** This instance, as its events name it. */
  readonly source: EventSource;
  /** Starts delivering (when created with `autoStart: false`). */
  start(): void;
  /** Stops delivering and waits for attempts in flight. Recorded events stay in the outbox. */
  close(): Promise<void>;
  /** Records events durably (one batch) and starts delivering them; resolves once they are stored. */
  record(events: readonly RegistryEvent[]): Promise<void>;
  /** Batches still pending for some endpoint, oldest first. */
  pending(): Promise<PendingBatch[]>;
  /** Batches an endpoint gave up on (after `maxAttempts`), for one endpoint or all. */
  deadLetters(endpoint?: string): Promise<DeadLetter[]>;
  /** Queues dead letters again for their endpoint (one, by entry key, or all); resolves how many. */
  replay(endpoint: string, key?: string): Promise<number>;
  /** Deletes dead letters (one, by entry key, or all); resolves how many. */
  discard(endpoint: string, key?: string): Promise<number>;
  /** Counters of this process per endpoint, and what was pending at the last look. */
  stats(): EndpointStats[];
}

/** Options of {@link createEventDispatcher}. */
export interface EventDispatcherOptions extends EventsOptions {
  /** The outbox (usually `storage.events` of a storage backend). */
  readonly store: EventStore;
  /** Where warnings about failing endpoints go (fields first, as pino). */
  readonly logger?: Partial<Logger>;
}

/**
 * Creates the durable event pipeline over an outbox store.
 *
 * @example
 * ```ts
 * const dispatcher = createEventDispatcher({
 *   store: storage.events!,
 *   autoStart: false,
 *   endpoints: [{ name: 'ci', url: 'https://ci.example/hooks/registry' }],
 * });
 * for (const letter of await dispatcher.deadLetters()) console.log(letter.key, letter.error);
 * await dispatcher.replay('ci');
 * ```
 */
export function createEventDispatcher(options: EventDispatcherOptions): EventDispatcher {
  return buildDispatcher(options, options.store, resolveLogger(options.logger), 'createEventDispatcher');
}

/** This instance as events name it: the given parts, else a fresh UUID and the host name. */
export function resolveSource(given: EventsOptions['source']): EventSource {
  return { instanceId: given?.instanceId ?? randomUUID(), addr: given?.addr ?? hostname() };
}

/**
 * Builds the pipeline (validating options as `factory`); `writers`: a registry's requests that may
 * record events, for group commits to wait for.
 */
export function buildDispatcher(
  options: EventsOptions,
  store: EventStore,
  logger: Logger,
  factory: string,
  writers?: Writers,
): EventDispatcher {
  const baseUrl = options.baseUrl;
  if (baseUrl !== undefined && !/^https?:\/\/[^/]/.test(baseUrl)) {
    throw new OptionsError(factory, 'events.baseUrl', 'must be an http or https URL');
  }
  const endpoints: ResolvedEndpoint[] = (options.endpoints ?? []).map((e) =>
    resolveEndpoint(e, baseUrl, factory),
  );
  const names = endpoints.map((e) => e.name);
  if (new Set(names).size !== names.length) {
    throw new OptionsError(factory, 'events.endpoints', 'must have distinct names');
  }
  const source = resolveSource(options.source);
  const longest = Math.max(0, ...endpoints.map((e) => e.timeout));
  validateOption(factory, 'events.leaseDuration', options.leaseDuration, positiveNumber);
  validateOption(factory, 'events.pollInterval', options.pollInterval, positiveNumber);
  const leaseDuration = Math.max(options.leaseDuration ?? 30_000, 2 * longest);
  const outbox = new Outbox(store, writers);
  const dispatcher = new Dispatcher({
    outbox,
    endpoints,
    owner: source.instanceId,
    pollInterval: options.pollInterval ?? 1000,
    leaseDuration,
    logger,
    ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
  });
  const known = (endpoint: string): void => {
    if (!names.includes(endpoint))
      throw new OptionsError(factory, 'endpoint', `${JSON.stringify(endpoint)} is not configured`);
  };
  const letters = async (endpoint: string, key?: string): Promise<DeadLetter[]> => {
    known(endpoint);
    if (key === undefined) return outbox.deadLetters(endpoint);
    const letter = await outbox.deadLetter(endpoint, key);
    return letter ? [letter] : [];
  };
  if (options.autoStart ?? true) dispatcher.start();
  return {
    endpoints: names,
    source,
    start: () => dispatcher.start(),
    close: () => dispatcher.close(),
    async record(events) {
      if (events.length === 0 || endpoints.length === 0) return;
      dispatcher.recorded(await outbox.append(events));
    },
    async pending() {
      const keys = await outbox.listAll('queue');
      const marks = new Map(await Promise.all(names.map(async (n) => [n, await outbox.marks(n)] as const)));
      const batches: PendingBatch[] = [];
      for (const key of keys) {
        const entry = await outbox.entry(key);
        if (!entry) continue;
        const progress = await Promise.all(
          endpoints.map(async (endpoint): Promise<EndpointProgress> => {
            const mark = marks.get(endpoint.name)!;
            const base = { endpoint: endpoint.name, attempts: 0 };
            const addressed = !entry.endpoints || entry.endpoints.includes(endpoint.name);
            if (!addressed || !entry.events.some(endpoint.wants)) return { ...base, state: 'skipped' };
            if (mark.done.has(key)) return { ...base, state: 'delivered' };
            if (mark.dead.has(key)) return { ...base, state: 'dead-lettered' };
            const generation = mark.leases.get(key);
            const lease =
              generation === undefined ? null : await outbox.lease(endpoint.name, key, generation);
            if (!lease || lease.attempts === 0) return { ...base, state: 'pending' };
            return {
              endpoint: endpoint.name,
              state: 'retrying',
              attempts: lease.attempts,
              nextAttemptAt: new Date(lease.until).toISOString(),
              ...(lease.error === undefined ? {} : { error: lease.error }),
            };
          }),
        );
        if (progress.every((p) => p.state !== 'pending' && p.state !== 'retrying')) continue;
        batches.push({
          key,
          recordedAt: new Date(entryTime(key)).toISOString(),
          events: entry.events,
          endpoints: progress,
        });
      }
      return batches;
    },
    async deadLetters(endpoint) {
      if (endpoint !== undefined) return letters(endpoint);
      return (await Promise.all(names.map((n) => outbox.deadLetters(n)))).flat();
    },
    async replay(endpoint, key) {
      const found = await letters(endpoint, key);
      for (const letter of found) {
        await dispatcher.requeued(await outbox.appendFor(letter.events, [endpoint]));
        await outbox.discardDeadLetter(endpoint, letter.key);
      }
      return found.length;
    },
    async discard(endpoint, key) {
      const found = await letters(endpoint, key);
      for (const letter of found) await outbox.discardDeadLetter(endpoint, letter.key);
      return found.length;
    },
    stats: () => dispatcher.stats(),
  };
}
