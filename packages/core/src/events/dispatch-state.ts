import type { Logger } from '../logging.js';
import type { ResolvedEndpoint } from './endpoint.js';
import type { DeliveryReport } from './options.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import type { RegistryEvent } from './types.js';
import type { OutboxView } from './view.js';

/** What a `Dispatcher` is built from. */
export interface DispatcherSettings {
  readonly outbox: Outbox;
  readonly endpoints: readonly ResolvedEndpoint[];
  /** Lease owner name (the source instance id). */
  readonly owner: string;
  readonly pollInterval: number;
  readonly leaseDuration: number;
  readonly logger: Logger;
  readonly onDelivery?: (report: DeliveryReport) => void;
}

/** Per-endpoint state of this process. */
export interface EndpointState {
  readonly endpoint: ResolvedEndpoint;
  readonly inFlight: Map<string, Promise<void>>;
  /** Attempts in flight (one attempt may carry several entries). */
  attempts: number;
  consecutiveFailures: number;
  pausedUntil: number;
  pending: number;
  delivered: number;
  failed: number;
  deadLettered: number;
}

/** The state of an endpoint nothing has happened to yet. */
export function endpointState(endpoint: ResolvedEndpoint): EndpointState {
  return {
    endpoint,
    inFlight: new Map(),
    attempts: 0,
    consecutiveFailures: 0,
    pausedUntil: 0,
    pending: 0,
    delivered: 0,
    failed: 0,
    deadLettered: 0,
  };
}

/** An entry in an attempt, and the events of it the endpoint wants. */
export interface Member {
  readonly entry: OutboxEntry;
  readonly events: readonly RegistryEvent[];
}

/**
 * What scheduling, attempts and settling share with the `Dispatcher` that runs them: its
 * settings, its view of the outbox, its stop signal, and the way to ask it for another pass.
 */
export interface DispatchContext {
  readonly settings: DispatcherSettings;
  readonly view: OutboxView;
  /** Aborts when the dispatcher closes. */
  readonly stop: AbortSignal;
  /** Looks at the outbox as soon as possible. */
  wake(): void;
  /** Something becomes due at `time` (a retry, the end of a pause or of another replica's lease). */
  wakeAt(time: number): void;
}
