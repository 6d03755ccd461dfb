import type { DispatchContext, EndpointState } from './dispatch-state.js';
import type { DeliveryReport } from './options.js';
import type { LeaseRecord, OutboxEntry } from './outbox.js';
import type { Outcome } from './send.js';
import type { RegistryEvent } from './types.js';
import type { Progress } from './view.js';

/** One finished attempt: what was attempted, by whom, and how it went. */
export interface Attempted {
  readonly state: EndpointState;
  readonly entry: OutboxEntry;
  readonly events: readonly RegistryEvent[];
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly outcome: Outcome;
  /** This process's record of the entry at the endpoint. */
  readonly progress: Progress;
}

/** Removes finished entries: queue records first, then every progress record. */
export async function removeFinished(context: DispatchContext, keys: readonly string[]): Promise<void> {
  await context.settings.outbox.remove(
    keys,
    keys.flatMap((key) => context.view.records(key)),
  );
  context.view.removed(keys);
}

function report(
  context: DispatchContext,
  { state, entry, events, attempt, outcome }: Attempted,
  result: DeliveryReport['outcome'],
): void {
  try {
    context.settings.onDelivery?.({
      endpoint: state.endpoint.name,
      entry: entry.key,
      outcome: result,
      events: events.length,
      attempt,
      durationSeconds: outcome.seconds,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
    });
  } catch (err) {
    context.settings.logger.warn({ err }, 'onDelivery hook failed');
  }
}

/**
 * Settles delivered entries (of one request): removes those every endpoint is finished with, in
 * one go, and marks the others done for this endpoint.
 */
export async function delivered(context: DispatchContext, attempted: readonly Attempted[]): Promise<void> {
  const finished: string[] = [];
  const marked: Promise<void>[] = [];
  for (const one of attempted) {
    const { state, entry, progress } = one;
    progress.settled = true;
    state.delivered++;
    state.consecutiveFailures = 0;
    state.pausedUntil = 0;
    report(context, one, 'delivered');
    if (context.view.finished(entry)) finished.push(entry.key);
    else
      marked.push(
        context.settings.outbox.markDone(state.endpoint.name, entry.key).then(() => {
          progress.done = true;
        }),
      );
  }
  await Promise.all([finished.length > 0 ? removeFinished(context, finished) : undefined, ...marked]);
  context.wake();
}

/** A failed request: counts towards pausing the endpoint (once, however many entries it held). */
export function failure(context: DispatchContext, state: EndpointState): void {
  const { endpoint } = state;
  state.consecutiveFailures++;
  if (state.consecutiveFailures >= endpoint.threshold) {
    state.pausedUntil = Date.now() + endpoint.delay(state.consecutiveFailures - endpoint.threshold + 1);
    context.wakeAt(state.pausedUntil);
  }
}

/**
 * A failed attempt: dead-letters the entry after `maxAttempts`, otherwise writes lease
 * `generation` (`create`: only if nobody took it) with the time of the retry (the backoff, shared
 * by every replica through the lease).
 */
export async function failed(
  context: DispatchContext,
  attempted: Attempted,
  generation: number,
  create: boolean,
): Promise<void> {
  const { state, entry, events, attempt, outcome, progress } = attempted;
  const { outbox, owner, logger } = context.settings;
  const { endpoint } = state;
  const error = outcome.error ?? 'failed';
  state.failed++;
  const fields = { endpoint: endpoint.name, entry: entry.key, attempts: attempt, error };
  if (attempt >= endpoint.maxAttempts) {
    await outbox.markDead({
      endpoint: endpoint.name,
      key: entry.key,
      events,
      attempts: attempt,
      error,
      at: new Date().toISOString(),
    });
    progress.settled = true;
    state.deadLettered++;
    logger.error(fields, 'event batch dead-lettered');
    report(context, attempted, 'dead-lettered');
    return;
  }
  const retry: LeaseRecord = {
    owner,
    until: Date.now() + endpoint.delay(attempt),
    attempts: attempt,
    error,
  };
  if (!(await outbox.putLease(endpoint.name, entry.key, generation, retry, create))) return;
  progress.generation = generation;
  progress.lease = retry;
  context.wakeAt(retry.until);
  logger.warn(fields, 'event delivery failed; will retry');
  report(context, attempted, 'failed');
}
