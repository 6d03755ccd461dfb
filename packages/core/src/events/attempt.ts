import type { DispatchContext, EndpointState, Member } from './dispatch-state.js';
import type { LeaseRecord, OutboxEntry } from './outbox.js';
import { send } from './send.js';
import { type Attempted, delivered, failed, failure } from './settle.js';
import type { RegistryEvent } from './types.js';

/** Tracks an attempt of some entries: one slot of the endpoint's concurrency until it ends. */
export function launch(
  context: DispatchContext,
  state: EndpointState,
  members: readonly Member[],
  attempt: Promise<void>,
): void {
  state.attempts++;
  const running = attempt
    .catch((err: unknown) =>
      context.settings.logger.warn(
        { err, endpoint: state.endpoint.name, entries: members.map((m) => m.entry.key) },
        'event delivery step failed',
      ),
    )
    .finally(() => {
      state.attempts--;
      for (const { entry } of members) state.inFlight.delete(entry.key);
    });
  for (const { entry } of members) state.inFlight.set(entry.key, running);
}

/**
 * The first attempt of entries this process recorded, within the first half of the lease
 * duration, when no other replica touches them: one request for all of them, and no lease is
 * written unless it fails.
 */
export async function attemptOwn(
  context: DispatchContext,
  state: EndpointState,
  members: readonly Member[],
): Promise<void> {
  const events = members.length === 1 ? members[0]!.events : members.flatMap((m) => m.events);
  const outcome = await send(context, state, events, 1);
  const name = state.endpoint.name;
  if (outcome.stopped) {
    // Hand the entries back, so that another replica need not wait for the lease duration.
    const lease: LeaseRecord = { owner: context.settings.owner, until: Date.now(), attempts: 0 };
    await Promise.all(
      members.map(({ entry }) => context.settings.outbox.putLease(name, entry.key, 0, lease, true)),
    );
    return;
  }
  const attempted = members.map(
    ({ entry, events }): Attempted => ({
      state,
      entry,
      events,
      attempt: 1,
      outcome,
      progress: context.view.track(name, entry.key),
    }),
  );
  if (outcome.error === undefined) {
    await delivered(context, attempted);
    return;
  }
  failure(context, state);
  await Promise.all(attempted.map((one) => failed(context, one, 0, true)));
}

/**
 * Takes the next lease generation of an entry (after `generation`, the highest one seen) and,
 * when it won it, attempts one delivery.
 */
export async function attemptLeased(
  context: DispatchContext,
  state: EndpointState,
  entry: OutboxEntry,
  events: readonly RegistryEvent[],
  generation: number | undefined,
): Promise<void> {
  const { outbox, owner, leaseDuration } = context.settings;
  const name = state.endpoint.name;
  const key = entry.key;
  const progress = context.view.track(name, key);
  let attempts = 0;
  if (generation !== undefined) {
    // Only a lease's holder rewrites it: one this process holds is as it wrote it.
    const current =
      progress.generation === generation && progress.lease?.owner === owner
        ? progress.lease
        : await outbox.lease(name, key, generation);
    if (!current) return;
    progress.generation = generation;
    progress.lease = current;
    if (current.until > Date.now()) {
      context.wakeAt(current.until);
      return;
    }
    attempts = current.attempts;
  }
  const next = (generation ?? -1) + 1;
  const lease: LeaseRecord = { owner, until: Date.now() + leaseDuration, attempts };
  if (!(await outbox.putLease(name, key, next, lease, true))) return;
  progress.generation = next;
  progress.lease = lease;
  // Finished and removed by another replica since this pass's listing: nothing to do (and the
  // lease must not outlive the cleanup). Cleanup removes the queue record before the leases, so
  // a lease won after it finds the record gone.
  if (!(await outbox.exists(key))) {
    await outbox.store.delete([`ep/${name}/${key}.l${next}`]);
    return;
  }
  const outcome = await send(context, state, events, attempts + 1);
  if (outcome.stopped) {
    // Shutting down is not the endpoint's failure: hand the entry back at once.
    await outbox.putLease(name, key, next, { ...lease, until: Date.now() }, false);
    return;
  }
  const attempted: Attempted = { state, entry, events, attempt: attempts + 1, outcome, progress };
  if (outcome.error === undefined) {
    await delivered(context, [attempted]);
    return;
  }
  failure(context, state);
  await failed(context, attempted, next, false);
}
