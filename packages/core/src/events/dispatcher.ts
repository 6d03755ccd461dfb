import type { Logger } from '../logging.js';
import type { ResolvedEndpoint } from './endpoint.js';
import type { DeliveryReport } from './options.js';
import { entryTime, type LeaseRecord, listedRecords, type Outbox, type OutboxEntry } from './outbox.js';
import type { RegistryEvent } from './types.js';
import { OutboxView, type Progress } from './view.js';

/** Entries looked at per pass (the oldest ones; later ones wait their turn). */
const WINDOW = 1000;
/** Progress records without a queue entry older than this are leftovers of a race; removed. */
const ORPHAN_AGE_MS = 10 * 60_000;
/**
 * The shortest time between the starts of two passes. Under load, entries recorded meanwhile go
 * out together in the next pass's request (see `#schedule`); a recording after a quiet spell is
 * attempted at once. Delivery waits at most this long for the pass.
 */
const MIN_WAIT_MS = 100;
/**
 * Events sent in one request at most when a replica's first attempts of several entries share it
 * (see `#schedule`): one POST per pass instead of one per entry.
 */
export const MAX_GROUP_EVENTS = 500;

/** Per-endpoint state of this process. */
interface EndpointState {
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

/** Counters of one endpoint in this process, and what was pending at the last look. */
export interface EndpointStats {
  readonly endpoint: string;
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  /** Batches not yet delivered nor dead-lettered at the last look at the outbox. */
  readonly pending: number;
}

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

/** Rejects when the signal aborts, so a transport that ignores it cannot hold a slot forever. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One finished attempt: what was attempted, by whom, and how it went. */
interface Attempted {
  readonly state: EndpointState;
  readonly entry: OutboxEntry;
  readonly events: readonly RegistryEvent[];
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly outcome: Outcome;
  /** This process's record of the entry at the endpoint. */
  readonly progress: Progress;
}

/** An entry in an attempt, and the events of it the endpoint wants. */
interface Member {
  readonly entry: OutboxEntry;
  readonly events: readonly RegistryEvent[];
}

/** How one attempt went. */
interface Outcome {
  /** Why it failed; `undefined` when delivered. */
  readonly error: string | undefined;
  /** The dispatcher is stopping: not the endpoint's failure. */
  readonly stopped: boolean;
  readonly seconds: number;
}

/**
 * Delivers the outbox to every endpoint, at least once (see docs/architecture.md, "Events"). Any
 * number of replicas may run one over a shared store. The replica that recorded an entry attempts
 * it first, during the first half of the lease duration, without writing anything; other replicas
 * leave an entry without a lease alone for the whole lease duration. Every other attempt starts by
 * creating the entry's next lease generation with a create-only write, so exactly one replica
 * makes it, and a failed attempt leaves its lease in place until the retry is due (the backoff is
 * shared too). The attempt that settles an entry for its last endpoint removes it.
 */
export class Dispatcher {
  readonly #settings: DispatcherSettings;
  readonly #states = new Map<string, EndpointState>();
  readonly #view: OutboxView;
  readonly #stop = new AbortController();
  #running = false;
  #started = false;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #nextWake = Number.POSITIVE_INFINITY;
  #pass: Promise<void> | undefined;
  #lastPass = 0;

  constructor(settings: DispatcherSettings) {
    this.#settings = settings;
    this.#view = new OutboxView(settings.endpoints);
    for (const endpoint of settings.endpoints) {
      this.#states.set(endpoint.name, {
        endpoint,
        inFlight: new Map(),
        attempts: 0,
        consecutiveFailures: 0,
        pausedUntil: 0,
        pending: 0,
        delivered: 0,
        failed: 0,
        deadLettered: 0,
      });
    }
  }

  get started(): boolean {
    return this.#started;
  }

  start(): void {
    if (this.#started || this.#stop.signal.aborted) return;
    this.#started = true;
    this.wake();
  }

  /** An entry this process just recorded. */
  recorded(entry: OutboxEntry): void {
    if (this.#stop.signal.aborted) return;
    this.#view.recorded(entry, this.#started);
    this.wake();
  }

  /**
   * An entry queued again (a replayed dead letter). A dispatcher that is not delivering (a tool
   * working on the outbox) hands it to the replicas at once with an expired first lease, so that
   * none of them waits for the recorder's turn (see the class comment).
   */
  async requeued(entry: OutboxEntry): Promise<void> {
    if (this.#started && !this.#stop.signal.aborted) {
      this.recorded(entry);
      return;
    }
    const lease: LeaseRecord = { owner: this.#settings.owner, until: Date.now(), attempts: 0 };
    await Promise.all(
      (entry.endpoints ?? [...this.#states.keys()]).map((name) =>
        this.#settings.outbox.putLease(name, entry.key, 0, lease, true),
      ),
    );
  }

  /** Looks at the outbox as soon as possible (something was recorded or finished). */
  wake(): void {
    if (!this.#started || this.#stop.signal.aborted) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const due = this.#lastPass + MIN_WAIT_MS;
    if (Date.now() < due) {
      this.#arm(due);
      return;
    }
    clearTimeout(this.#timer);
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#running = true;
    this.#pass = this.#loop();
  }

  async close(): Promise<void> {
    this.#stop.abort(new Error('event dispatcher closed'));
    clearTimeout(this.#timer);
    await this.#pass;
    await Promise.allSettled([...this.#states.values()].flatMap((s) => [...s.inFlight.values()]));
    for (const state of this.#states.values()) state.endpoint.close();
  }

  stats(): EndpointStats[] {
    return [...this.#states.values()].map((s) => ({
      endpoint: s.endpoint.name,
      delivered: s.delivered,
      failed: s.failed,
      deadLettered: s.deadLettered,
      pending: s.pending,
    }));
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      this.#lastPass = Date.now();
      this.#nextWake = this.#lastPass + this.#settings.pollInterval;
      try {
        await this.#look();
      } catch (err) {
        this.#settings.logger.warn({ err }, 'event outbox pass failed');
      }
      if (this.#again) await new Promise((resolve) => setTimeout(resolve, MIN_WAIT_MS));
    } while (this.#again && !this.#stop.signal.aborted);
    this.#running = false;
    this.#arm(this.#nextWake);
  }

  /** Sets the timer of the next pass, unless one is already due sooner. */
  #arm(time: number): void {
    if (this.#stop.signal.aborted || time >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = time;
    this.#timer = setTimeout(
      () => {
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, time - Date.now()),
    );
    this.#timer.unref();
  }

  /** Something becomes due at `time` (a retry, the end of a pause or of another replica's lease). */
  #wakeAt(time: number): void {
    this.#nextWake = Math.min(this.#nextWake, time);
    if (!this.#running) this.#arm(time);
  }

  /** One pass: start what is due, remove what every endpoint is finished with. */
  async #look(): Promise<void> {
    const { outbox } = this.#settings;
    const view = this.#view;
    const removed = view.removedSoFar();
    const listedAt = Date.now();
    const keys = await outbox.queue(WINDOW);
    const gone = view.listed(keys, WINDOW, listedAt, removed);
    const entries = (
      await Promise.all(keys.map(async (key) => view.entry(key) ?? (await this.#load(key))))
    ).filter((entry): entry is OutboxEntry => entry !== null);
    view.marks = new Map(
      await Promise.all(
        [...this.#states.keys()].map(async (name) => [name, await outbox.marks(name)] as const),
      ),
    );
    const now = Date.now();
    for (const state of this.#states.values()) this.#schedule(state, entries, now);

    // Settled everywhere, but not by an attempt of this process (which removes what it finishes).
    const finished = entries
      .filter((entry) => !view.wasRemoved(entry.key) && view.finished(entry))
      .map((entry) => entry.key);
    if (finished.length > 0) await this.#remove(finished);
    // Progress records of entries removed by a replica that raced this one's cleanup.
    const orphans = new Set<string>();
    for (const endpointMarks of view.marks.values()) {
      for (const key of endpointMarks.records.keys()) {
        if (gone(key) && entryTime(key) < now - ORPHAN_AGE_MS) orphans.add(key);
      }
    }
    if (orphans.size > 0) {
      await outbox.remove(
        [],
        [...orphans].flatMap((key) => listedRecords(key, view.marks)),
      );
    }
  }

  async #load(key: string): Promise<OutboxEntry | null> {
    const entry = await this.#settings.outbox.entry(key);
    if (entry) this.#view.loaded(entry);
    return entry;
  }

  /** Removes finished entries: queue records first, then every progress record. */
  async #remove(keys: readonly string[]): Promise<void> {
    await this.#settings.outbox.remove(
      keys,
      keys.flatMap((key) => this.#view.records(key)),
    );
    this.#view.removed(keys);
  }

  /**
   * Starts the attempts that are due for one endpoint. With per-repository ordering, an entry that
   * is not settled holds back every later entry touching one of its repositories. First attempts
   * of entries this process recorded go out together, oldest first, in one request (up to
   * {@link MAX_GROUP_EVENTS} events): under load a pass finds several, and one delivery per pass
   * costs a fraction of one per entry (see docs/architecture.md, "Events").
   */
  #schedule(state: EndpointState, entries: readonly OutboxEntry[], now: number): void {
    const { endpoint } = state;
    const view = this.#view;
    // The repositories (lanes) of unsettled entries so far: held by a member of the group being
    // gathered (a later entry may join it: the group delivers in order), or by any other entry.
    const lanes = new Map<string, 'group' | 'other'>();
    let group: Member[] = [];
    let grouped = 0;
    const launchGroup = (): void => {
      if (group.length > 0) this.#launch(state, group, this.#attemptOwn(state, group));
      group = [];
      grouped = 0;
      for (const lane of lanes.keys()) lanes.set(lane, 'other');
    };
    let pending = 0;
    for (const entry of entries) {
      if (view.settled(endpoint, entry)) continue;
      pending++;
      const events = view.wanted(endpoint, entry);
      const own = endpoint.ordered
        ? new Set(events.map((event) => event.repository ?? ''))
        : new Set<string>();
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
        this.#firstOwn(endpoint, entry, now)
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
      this.#scheduleOne(state, entry, events, now, group.length > 0 ? 1 : 0);
    }
    launchGroup();
    state.pending = pending;
  }

  /**
   * Whether this is the first attempt of an entry this process recorded (nothing written about it
   * at the endpoint), due within the first half of the lease: it may go into the group.
   */
  #firstOwn(endpoint: ResolvedEndpoint, entry: OutboxEntry, now: number): boolean {
    return (
      this.#view.own(entry.key) &&
      this.#view.generation(endpoint.name, entry.key) === undefined &&
      now + endpoint.timeout <= entryTime(entry.key) + this.#settings.leaseDuration / 2
    );
  }

  /** Starts a lease-taking attempt of one entry if it is due (`reserved`: slots promised already). */
  #scheduleOne(
    state: EndpointState,
    entry: OutboxEntry,
    events: readonly RegistryEvent[],
    now: number,
    reserved: number,
  ): void {
    const { endpoint } = state;
    const { leaseDuration } = this.#settings;
    if (state.inFlight.has(entry.key)) return;
    if (state.pausedUntil > now) {
      this.#wakeAt(state.pausedUntil);
      return;
    }
    if (state.attempts + reserved >= endpoint.concurrency) return;
    const generation = this.#view.generation(endpoint.name, entry.key);
    if (generation === undefined) {
      const recordedAt = entryTime(entry.key);
      if (!this.#view.own(entry.key) && now < recordedAt + leaseDuration) {
        // The replica that recorded it may be delivering it.
        this.#wakeAt(recordedAt + leaseDuration);
        return;
      }
    } else {
      const known = this.#view.progress(endpoint.name, entry.key);
      const lease = known?.generation === generation ? known.lease : undefined;
      if (lease && lease.until > now) {
        this.#wakeAt(lease.until);
        return;
      }
    }
    this.#launch(state, [{ entry, events }], this.#attempt(state, entry, events, generation));
  }

  /** Tracks an attempt of some entries: one slot of the endpoint's concurrency until it ends. */
  #launch(state: EndpointState, members: readonly Member[], attempt: Promise<void>): void {
    state.attempts++;
    const running = attempt
      .catch((err: unknown) =>
        this.#settings.logger.warn(
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
  async #attemptOwn(state: EndpointState, members: readonly Member[]): Promise<void> {
    const events = members.length === 1 ? members[0]!.events : members.flatMap((m) => m.events);
    const outcome = await this.#send(state, events, 1);
    const name = state.endpoint.name;
    if (outcome.stopped) {
      // Hand the entries back, so that another replica need not wait for the lease duration.
      const lease: LeaseRecord = { owner: this.#settings.owner, until: Date.now(), attempts: 0 };
      await Promise.all(
        members.map(({ entry }) => this.#settings.outbox.putLease(name, entry.key, 0, lease, true)),
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
        progress: this.#view.track(name, entry.key),
      }),
    );
    if (outcome.error === undefined) {
      await this.#delivered(attempted);
      return;
    }
    this.#failure(state);
    await Promise.all(attempted.map((one) => this.#failed(one, 0, true)));
  }

  /** Takes the next lease generation of an entry and, when it won it, attempts one delivery. */
  async #attempt(
    state: EndpointState,
    entry: OutboxEntry,
    events: readonly RegistryEvent[],
    generation: number | undefined,
  ): Promise<void> {
    const { outbox, owner, leaseDuration } = this.#settings;
    const name = state.endpoint.name;
    const key = entry.key;
    const progress = this.#view.track(name, key);
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
        this.#wakeAt(current.until);
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
    const outcome = await this.#send(state, events, attempts + 1);
    if (outcome.stopped) {
      // Shutting down is not the endpoint's failure: hand the entry back at once.
      await outbox.putLease(name, key, next, { ...lease, until: Date.now() }, false);
      return;
    }
    const attempted: Attempted = { state, entry, events, attempt: attempts + 1, outcome, progress };
    if (outcome.error === undefined) {
      await this.#delivered([attempted]);
      return;
    }
    this.#failure(state);
    await this.#failed(attempted, next, false);
  }

  /** One delivery, bounded by the endpoint's timeout and by the dispatcher stopping. */
  async #send(state: EndpointState, events: readonly RegistryEvent[], attempt: number): Promise<Outcome> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const signal = AbortSignal.any([AbortSignal.timeout(state.endpoint.timeout), this.#stop.signal]);
    try {
      await raceSignal(
        Promise.resolve().then(() => state.endpoint.send(events, attempt, signal)),
        signal,
      );
      return { error: undefined, stopped: false, seconds: seconds() };
    } catch (err) {
      return { error: message(err), stopped: this.#stop.signal.aborted, seconds: seconds() };
    }
  }

  #report({ state, entry, events, attempt, outcome }: Attempted, result: DeliveryReport['outcome']): void {
    try {
      this.#settings.onDelivery?.({
        endpoint: state.endpoint.name,
        entry: entry.key,
        outcome: result,
        events: events.length,
        attempt,
        durationSeconds: outcome.seconds,
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
      });
    } catch (err) {
      this.#settings.logger.warn({ err }, 'onDelivery hook failed');
    }
  }

  /**
   * Settles delivered entries (of one request): removes those every endpoint is finished with, in
   * one go, and marks the others done for this endpoint.
   */
  async #delivered(attempted: readonly Attempted[]): Promise<void> {
    const finished: string[] = [];
    const marked: Promise<void>[] = [];
    for (const one of attempted) {
      const { state, entry, progress } = one;
      progress.settled = true;
      state.delivered++;
      state.consecutiveFailures = 0;
      state.pausedUntil = 0;
      this.#report(one, 'delivered');
      if (this.#view.finished(entry)) finished.push(entry.key);
      else
        marked.push(
          this.#settings.outbox.markDone(state.endpoint.name, entry.key).then(() => {
            progress.done = true;
          }),
        );
    }
    await Promise.all([finished.length > 0 ? this.#remove(finished) : undefined, ...marked]);
    this.wake();
  }

  /** A failed request: counts towards pausing the endpoint (once, however many entries it held). */
  #failure(state: EndpointState): void {
    const { endpoint } = state;
    state.consecutiveFailures++;
    if (state.consecutiveFailures >= endpoint.threshold) {
      state.pausedUntil = Date.now() + endpoint.delay(state.consecutiveFailures - endpoint.threshold + 1);
      this.#wakeAt(state.pausedUntil);
    }
  }

  /**
   * A failed attempt: dead-letters the entry after `maxAttempts`, otherwise writes lease
   * `generation` (`create`: only if nobody took it) with the time of the retry.
   */
  async #failed(attempted: Attempted, generation: number, create: boolean): Promise<void> {
    const { state, entry, events, attempt, outcome, progress } = attempted;
    const { outbox, owner, logger } = this.#settings;
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
      this.#report(attempted, 'dead-lettered');
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
    this.#wakeAt(retry.until);
    logger.warn(fields, 'event delivery failed; will retry');
    this.#report(attempted, 'failed');
  }
}
