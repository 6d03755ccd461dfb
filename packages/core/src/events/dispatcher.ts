import {
  type DispatchContext,
  type DispatcherSettings,
  type EndpointState,
  endpointState,
} from './dispatch-state.js';
import { entryTime, type LeaseRecord, listedRecords, type OutboxEntry } from './outbox.js';
import { schedule } from './schedule.js';
import { removeFinished } from './settle.js';
import { OutboxView } from './view.js';

export type { DispatcherSettings } from './dispatch-state.js';
export { MAX_GROUP_EVENTS } from './schedule.js';

/** Entries looked at per pass (the oldest ones; later ones wait their turn). */
const WINDOW = 1000;
/** Progress records without a queue entry older than this are leftovers of a race; removed. */
const ORPHAN_AGE_MS = 10 * 60_000;
/**
 * The shortest time between the starts of two passes. Under load, entries recorded meanwhile go
 * out together in the next pass's request (see `schedule` in schedule.ts); a recording after a
 * quiet spell is attempted at once. Delivery waits at most this long for the pass.
 */
const MIN_WAIT_MS = 100;

/** Counters of one endpoint in this process, and what was pending at the last look. */
export interface EndpointStats {
  readonly endpoint: string;
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  /** Batches not yet delivered nor dead-lettered at the last look at the outbox. */
  readonly pending: number;
}

/**
 * Delivers the outbox to every endpoint, at least once (see docs/architecture.md, "Events"). Any
 * number of replicas may run one over a shared store. The replica that recorded an entry attempts
 * it first, during the first half of the lease duration, without writing anything; other replicas
 * leave an entry without a lease alone for the whole lease duration. Every other attempt starts by
 * creating the entry's next lease generation with a create-only write, so exactly one replica
 * makes it, and a failed attempt leaves its lease in place until the retry is due (the backoff is
 * shared too). The attempt that settles an entry for its last endpoint removes it.
 *
 * This class runs the passes (when to look at the outbox, and cleaning up after a look); what a
 * pass starts is in schedule.ts, the attempts in attempt.ts and send.ts, and what follows one
 * (retries, dead letters, pauses) in settle.ts.
 */
export class Dispatcher {
  readonly #settings: DispatcherSettings;
  readonly #states = new Map<string, EndpointState>();
  readonly #view: OutboxView;
  readonly #stop = new AbortController();
  readonly #context: DispatchContext;
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
    for (const endpoint of settings.endpoints) this.#states.set(endpoint.name, endpointState(endpoint));
    this.#context = {
      settings,
      view: this.#view,
      stop: this.#stop.signal,
      wake: () => this.wake(),
      wakeAt: (time) => this.#wakeAt(time),
    };
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
    for (const state of this.#states.values()) schedule(this.#context, state, entries, now);

    // Settled everywhere, but not by an attempt of this process (which removes what it finishes).
    const finished = entries
      .filter((entry) => !view.wasRemoved(entry.key) && view.finished(entry))
      .map((entry) => entry.key);
    if (finished.length > 0) await removeFinished(this.#context, finished);
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
}
