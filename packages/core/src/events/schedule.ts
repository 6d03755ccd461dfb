import { attemptLeased, attemptOwn, launch } from './attempt.js';
import type { DispatchContext, EndpointState, Member } from './dispatch-state.js';
import type { ResolvedEndpoint } from './endpoint.js';
import { entryTime, type OutboxEntry } from './outbox.js';
import type { RegistryEvent } from './types.js';

/**
 * Events sent in one request at most when a replica's first attempts of several entries share it
 * (see {@link schedule}): one POST per pass instead of one per entry.
 */
export const MAX_GROUP_EVENTS = 500;

/**
 * Starts the attempts that are due for one endpoint. With per-repository ordering, an entry that
 * is not settled holds back every later entry touching one of its repositories. First attempts
 * of entries this process recorded go out together, oldest first, in one request (up to
 * {@link MAX_GROUP_EVENTS} events): under load a pass finds several, and one delivery per pass
 * costs a fraction of one per entry (see docs/architecture.md, "Events").
 */
export function schedule(
  context: DispatchContext,
  state: EndpointState,
  entries: readonly OutboxEntry[],
  now: number,
): void {
  const { endpoint } = state;
  const { view } = context;
  // The repositories (lanes) of unsettled entries so far: held by a member of the group being
  // gathered (a later entry may join it: the group delivers in order), or by any other entry.
  const lanes = new Map<string, 'group' | 'other'>();
  let group: Member[] = [];
  let grouped = 0;
  const launchGroup = (): void => {
    if (group.length > 0) launch(context, state, group, attemptOwn(context, state, group));
    group = [];
    grouped = 0;
    for (const lane of lanes.keys()) lanes.set(lane, 'other');
  };
  let pending = 0;
  for (const entry of entries) {
    if (view.settled(endpoint, entry)) continue;
    pending++;
    const events = view.wanted(endpoint, entry);
    const own = endpoint.ordered ? new Set(events.map((event) => event.repository ?? '')) : new Set<string>();
    const ahead = new Set([...own].map((lane) => lanes.get(lane)));
    const hold = (by: 'group' | 'other'): void => {
      for (const lane of own) if (lanes.get(lane) !== 'other') lanes.set(lane, by);
    };
    if (ahead.has('other')) {
      hold('other');
      continue;
    }
    const behindGroup = ahead.has('group');
    if (
      !state.inFlight.has(entry.key) &&
      state.pausedUntil <= now &&
      firstOwn(context, endpoint, entry, now)
    ) {
      // A full group goes now, unless this entry must follow it (then it waits for a later pass).
      if (group.length > 0 && grouped + events.length > MAX_GROUP_EVENTS && !behindGroup) launchGroup();
      const fits =
        group.length === 0
          ? state.attempts < endpoint.concurrency
          : grouped + events.length <= MAX_GROUP_EVENTS;
      if (fits) {
        group.push({ entry, events });
        grouped += events.length;
        hold('group');
        continue;
      }
    }
    hold('other');
    if (behindGroup) continue;
    scheduleOne(context, state, entry, events, now, group.length > 0 ? 1 : 0);
  }
  launchGroup();
  state.pending = pending;
}

/**
 * Whether this is the first attempt of an entry this process recorded (nothing written about it
 * at the endpoint), due within the first half of the lease: it may go into the group.
 */
function firstOwn(
  context: DispatchContext,
  endpoint: ResolvedEndpoint,
  entry: OutboxEntry,
  now: number,
): boolean {
  return (
    context.view.own(entry.key) &&
    context.view.generation(endpoint.name, entry.key) === undefined &&
    now + endpoint.timeout <= entryTime(entry.key) + context.settings.leaseDuration / 2
  );
}

/** Starts a lease-taking attempt of one entry if it is due (`reserved`: slots promised already). */
function scheduleOne(
  context: DispatchContext,
  state: EndpointState,
  entry: OutboxEntry,
  events: readonly RegistryEvent[],
  now: number,
  reserved: number,
): void {
  const { endpoint } = state;
  const { view } = context;
  const { leaseDuration } = context.settings;
  if (state.inFlight.has(entry.key)) return;
  if (state.pausedUntil > now) {
    context.wakeAt(state.pausedUntil);
    return;
  }
  if (state.attempts + reserved >= endpoint.concurrency) return;
  const generation = view.generation(endpoint.name, entry.key);
  if (generation === undefined) {
    const recordedAt = entryTime(entry.key);
    if (!view.own(entry.key) && now < recordedAt + leaseDuration) {
      // The replica that recorded it may be delivering it.
      context.wakeAt(recordedAt + leaseDuration);
      return;
    }
  } else {
    const known = view.progress(endpoint.name, entry.key);
    const lease = known?.generation === generation ? known.lease : undefined;
    if (lease && lease.until > now) {
      context.wakeAt(lease.until);
      return;
    }
  }
  launch(context, state, [{ entry, events }], attemptLeased(context, state, entry, events, generation));
}
