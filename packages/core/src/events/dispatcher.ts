import type { Logger } from '../logging.js';
import type { ResolvedEndpoint } from './endpoint.js';
import type { DeliveryReport } from './options.js';
import { type EndpointMarks, entryTime, type LeaseRecord, type Outbox, type OutboxEntry } from './outbox.js';
import type { RegistryEvent } from './types.js';

/** Entries looked at per pass (the oldest ones; later ones wait their turn). */
const WINDOW = 1000;
/** Progress records without a queue entry older than this are leftovers of a race; removed. */
const ORPHAN_AGE_MS = 10 * 60_000;
/**
 * The shortest time between the starts of two passes: deliveries finishing close together share
 * the next pass instead of each listing the outbox again.
 */
const MIN_WAIT_MS = 20;

/** Per-endpoint state of this process. */
interface EndpointState {
  readonly endpoint: ResolvedEndpoint;
  readonly inFlight: Map<string, Promise<void>>;
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

/**
 * Delivers the outbox to every endpoint, at least once (see docs/architecture.md, "Events"). Any
 * number of replicas may run one over a shared store: an attempt starts by creating the next lease
 * generation of the entry with a create-only write, so exactly one replica attempts it, and a
 * failed attempt leaves its lease in place until the retry is due (the backoff is shared too).
 */
export class Dispatcher {
  readonly #settings: DispatcherSettings;
  readonly #states = new Map<string, EndpointState>();
  readonly #entries = new Map<string, OutboxEntry>();
  /** Lease records read or written, by `<endpoint>/<entry>.l<n>`. */
  readonly #leases = new Map<string, LeaseRecord>();
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
    for (const endpoint of settings.endpoints) {
      this.#states.set(endpoint.name, {
        endpoint,
        inFlight: new Map(),
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
    const keys = await outbox.queue(WINDOW);
    const listed = new Set(keys);
    for (const key of this.#entries.keys()) if (!listed.has(key)) this.#entries.delete(key);
    const entries = (
      await Promise.all(keys.map(async (key) => this.#entries.get(key) ?? (await this.#load(key))))
    ).filter((entry): entry is OutboxEntry => entry !== null);
    const marks = new Map<string, EndpointMarks>(
      await Promise.all(
        [...this.#states.keys()].map(async (name) => [name, await outbox.marks(name)] as const),
      ),
    );
    const now = Date.now();
    for (const state of this.#states.values())
      this.#schedule(state, entries, marks.get(state.endpoint.name)!, now);

    for (const entry of entries) {
      const finished = [...this.#states.values()].every((s) =>
        this.#settled(s.endpoint, entry, marks.get(s.endpoint.name)!),
      );
      if (finished) {
        await outbox.remove(entry.key, marks);
        this.#entries.delete(entry.key);
        this.#forgetLeases(entry.key);
      }
    }
    // Progress records of entries removed by a replica that raced this one's cleanup.
    const complete = keys.length < WINDOW;
    for (const endpointMarks of marks.values()) {
      for (const key of endpointMarks.records.keys()) {
        const gone = !listed.has(key) && (complete || key < keys[keys.length - 1]!);
        if (gone && entryTime(key) < now - ORPHAN_AGE_MS) await outbox.removeMarks(key, marks);
      }
    }
  }

  async #load(key: string): Promise<OutboxEntry | null> {
    const entry = await this.#settings.outbox.entry(key);
    if (entry) this.#entries.set(key, entry);
    return entry;
  }

  #forgetLeases(key: string): void {
    for (const name of this.#states.keys()) {
      for (const leaseKey of this.#leases.keys()) {
        if (leaseKey.startsWith(`${name}/${key}.`)) this.#leases.delete(leaseKey);
      }
    }
  }

  /** The events of an entry the endpoint wants (none when it is not addressed to it). */
  #wanted(endpoint: ResolvedEndpoint, entry: OutboxEntry): readonly RegistryEvent[] {
    if (entry.endpoints && !entry.endpoints.includes(endpoint.name)) return [];
    return entry.events.filter(endpoint.wants);
  }

  #settled(endpoint: ResolvedEndpoint, entry: OutboxEntry, marks: EndpointMarks): boolean {
    return (
      marks.done.has(entry.key) || marks.dead.has(entry.key) || this.#wanted(endpoint, entry).length === 0
    );
  }

  /**
   * Starts the attempts that are due for one endpoint. With per-repository ordering, an entry that
   * is not settled holds back every later entry touching one of its repositories.
   */
  #schedule(state: EndpointState, entries: readonly OutboxEntry[], marks: EndpointMarks, now: number): void {
    const { endpoint } = state;
    const blocked = new Set<string>();
    let pending = 0;
    for (const entry of entries) {
      if (this.#settled(endpoint, entry, marks)) continue;
      pending++;
      const events = this.#wanted(endpoint, entry);
      if (endpoint.ordered) {
        const lanes = new Set(events.map((event) => event.repository ?? ''));
        const held = [...lanes].some((lane) => blocked.has(lane));
        for (const lane of lanes) blocked.add(lane);
        if (held) continue;
      }
      if (state.inFlight.has(entry.key) || state.inFlight.size >= endpoint.concurrency) continue;
      if (state.pausedUntil > now) {
        this.#wakeAt(state.pausedUntil);
        continue;
      }
      const generation = marks.leases.get(entry.key);
      const known =
        generation === undefined
          ? undefined
          : this.#leases.get(`${endpoint.name}/${entry.key}.l${generation}`);
      if (known && known.until > now) {
        this.#wakeAt(known.until);
        continue;
      }
      const attempt = this.#attempt(state, entry, events, generation)
        .catch((err: unknown) =>
          this.#settings.logger.warn(
            { err, endpoint: endpoint.name, entry: entry.key },
            'event delivery step failed',
          ),
        )
        .finally(() => {
          state.inFlight.delete(entry.key);
        });
      state.inFlight.set(entry.key, attempt);
    }
    state.pending = pending;
  }

  /** Takes the next lease generation of an entry and, when it won it, attempts one delivery. */
  async #attempt(
    state: EndpointState,
    entry: OutboxEntry,
    events: readonly RegistryEvent[],
    generation: number | undefined,
  ): Promise<void> {
    const { outbox, owner, leaseDuration, logger } = this.#settings;
    const { endpoint } = state;
    const name = endpoint.name;
    const key = entry.key;
    let attempts = 0;
    if (generation !== undefined) {
      const current = await outbox.lease(name, key, generation);
      if (!current) return;
      this.#leases.set(`${name}/${key}.l${generation}`, current);
      if (current.until > Date.now()) {
        this.#wakeAt(current.until);
        return;
      }
      attempts = current.attempts;
    }
    const next = (generation ?? -1) + 1;
    const leaseKey = `${name}/${key}.l${next}`;
    const lease: LeaseRecord = { owner, until: Date.now() + leaseDuration, attempts };
    if (!(await outbox.putLease(name, key, next, lease, true))) return;
    this.#leases.set(leaseKey, lease);
    // Settled, or finished and removed, between this pass's listing and the lease: nothing to do
    // (and the lease must not outlive the cleanup). The order matters: cleanup removes the queue
    // record before the marks.
    if ((await outbox.settled(name, key)) || !(await outbox.exists(key))) {
      await outbox.store.delete([`ep/${name}/${key}.l${next}`]);
      this.#leases.delete(leaseKey);
      return;
    }

    const attempt = attempts + 1;
    const started = process.hrtime.bigint();
    const report = (outcome: DeliveryReport['outcome'], error?: string): void => {
      try {
        this.#settings.onDelivery?.({
          endpoint: name,
          entry: key,
          outcome,
          events: events.length,
          attempt,
          durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
          ...(error === undefined ? {} : { error }),
        });
      } catch (err) {
        logger.warn({ err }, 'onDelivery hook failed');
      }
    };
    const signal = AbortSignal.any([AbortSignal.timeout(endpoint.timeout), this.#stop.signal]);
    try {
      await raceSignal(
        Promise.resolve().then(() => endpoint.send(events, attempt, signal)),
        signal,
      );
    } catch (err) {
      if (this.#stop.signal.aborted) {
        // Shutting down is not the endpoint's failure: hand the entry back at once.
        await outbox.putLease(name, key, next, { ...lease, until: Date.now() }, false);
        return;
      }
      const error = message(err);
      state.failed++;
      state.consecutiveFailures++;
      if (state.consecutiveFailures >= endpoint.threshold) {
        state.pausedUntil = Date.now() + endpoint.delay(state.consecutiveFailures - endpoint.threshold + 1);
        this.#wakeAt(state.pausedUntil);
      }
      if (attempt >= endpoint.maxAttempts) {
        await outbox.markDead({
          endpoint: name,
          key,
          events,
          attempts: attempt,
          error,
          at: new Date().toISOString(),
        });
        state.deadLettered++;
        logger.error({ endpoint: name, entry: key, attempts: attempt, error }, 'event batch dead-lettered');
        report('dead-lettered', error);
        return;
      }
      const retry: LeaseRecord = {
        owner,
        until: Date.now() + endpoint.delay(attempt),
        attempts: attempt,
        error,
      };
      await outbox.putLease(name, key, next, retry, false);
      this.#leases.set(leaseKey, retry);
      this.#wakeAt(retry.until);
      logger.warn({ endpoint: name, entry: key, attempt, error }, 'event delivery failed; will retry');
      report('failed', error);
      return;
    }
    await outbox.markDone(name, key);
    state.delivered++;
    state.consecutiveFailures = 0;
    state.pausedUntil = 0;
    report('delivered');
    this.wake();
  }
}
