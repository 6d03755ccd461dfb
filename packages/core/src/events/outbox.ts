import { randomBytes } from 'node:crypto';
import type { EventStore } from '../stores/types.js';
import type { RegistryEvent } from './types.js';
import type { Writers } from './writers.js';

/*
 * The outbox's layout in an EventStore (see docs/architecture.md, "Events"):
 *
 *   queue/<entry>                  one request's events, recorded before its response
 *   ep/<endpoint>/<entry>.done     delivered to the endpoint
 *   ep/<endpoint>/<entry>.dead     dead-lettered for the endpoint
 *   ep/<endpoint>/<entry>.l<n>     lease generation n: who is delivering, until when, attempts so far
 *   dead/<endpoint>/<entry>        a dead letter: the events and the last error, until replayed
 *
 * Entry keys start with the recording time, so listing the queue lists it oldest first.
 */

/** One recorded batch: the events of one request (or one garbage collection). */
export interface OutboxEntry {
  readonly key: string;
  readonly events: readonly RegistryEvent[];
  /** Only these endpoints (a replayed dead letter); default every endpoint. */
  readonly endpoints?: readonly string[];
}

/** A lease generation: delivery in progress, or the wait before the next attempt. */
export interface LeaseRecord {
  readonly owner: string;
  /** Epoch milliseconds until which nobody else attempts the entry. */
  readonly until: number;
  /** Failed attempts so far. */
  readonly attempts: number;
  readonly error?: string;
}

/** A batch an endpoint gave up on. */
export interface DeadLetter {
  readonly endpoint: string;
  /** The outbox entry it came from. */
  readonly key: string;
  readonly events: readonly RegistryEvent[];
  readonly attempts: number;
  readonly error: string;
  /** When it was dead-lettered (ISO 8601). */
  readonly at: string;
}

/** What the store says about one endpoint's progress. */
export interface EndpointMarks {
  readonly done: Set<string>;
  readonly dead: Set<string>;
  /** The highest lease generation of each entry. */
  readonly leases: Map<string, number>;
  /** The record names of each entry in the endpoint's folder, for cleanup. */
  readonly records: Map<string, string[]>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decode<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

let lastMs = 0;
let sequence = 0;
/** Tells this process's keys from other processes' (time and sequence are unique within it). */
const processTag = randomBytes(5).toString('hex');

/** A fresh entry key, ordered by time (and by call within one process). */
export function entryKey(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else {
    sequence++;
  }
  const time = String(lastMs).padStart(13, '0');
  return `${time}-${sequence.toString(16).padStart(6, '0')}-${processTag}`;
}

/** The recording time of an entry key (epoch milliseconds). */
export function entryTime(key: string): number {
  return Number(key.slice(0, 13));
}

const PAGE = 1000;

/**
 * The longest a group commit waits for requests still being handled (see {@link Writers}). Each
 * commit is one more disk flush, and a flush stalls every other write to the disk: the fewer
 * commits per request, the less an endpoint costs a push. Under eight concurrent pushers, 10 ms
 * cost a push about 3 % less than 5 ms did, and no wait four times more (docs/architecture.md,
 * "Events"). A request with no other in flight never waits.
 */
export const COMMIT_DELAY_MS = 10;

/** Typed access to the outbox's records. */
export class Outbox {
  readonly store: EventStore;
  readonly #writers: Writers | undefined;

  /** `writers`: the requests that may record events, which group commits wait for briefly. */
  constructor(store: EventStore, writers?: Writers) {
    this.store = store;
    this.#writers = writers;
  }

  /** Events waiting for the write in flight to finish, and their callers. */
  #next:
    | {
        events: RegistryEvent[];
        waiters: Array<{ resolve(entry: OutboxEntry): void; reject(error: unknown): void }>;
      }
    | undefined;
  #writing = false;

  /**
   * Records events durably, resolving the entry that holds them once it is stored. Calls made
   * while a write is in flight are written together by the next one (group commit): one durable
   * write serves many requests, and they share the entry.
   */
  append(events: readonly RegistryEvent[]): Promise<OutboxEntry> {
    return new Promise((resolve, reject) => {
      this.#next ??= { events: [], waiters: [] };
      this.#next.events.push(...events);
      this.#next.waiters.push({ resolve, reject });
      if (!this.#writing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    while (this.#next) {
      // Requests still being handled may record events in a moment: let them join this write.
      if (this.#writers && this.#writers.active > 0) await this.#writers.settled(COMMIT_DELAY_MS);
      const batch = this.#next;
      this.#next = undefined;
      const entry: OutboxEntry = { key: entryKey(), events: batch.events };
      try {
        await this.store.put(`queue/${entry.key}`, encode({ events: batch.events }), { unique: true });
        for (const waiter of batch.waiters) waiter.resolve(entry);
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error);
      }
    }
    this.#writing = false;
  }

  /** Records events for some endpoints only (a replayed dead letter). */
  async appendFor(events: readonly RegistryEvent[], endpoints: readonly string[]): Promise<OutboxEntry> {
    const entry: OutboxEntry = { key: entryKey(), events, endpoints };
    await this.store.put(`queue/${entry.key}`, encode({ events, endpoints }), { unique: true });
    return entry;
  }

  /** The oldest `limit` entry keys. */
  queue(limit: number): Promise<string[]> {
    return this.store.list('queue', { limit });
  }

  async entry(key: string): Promise<OutboxEntry | null> {
    const bytes = await this.store.get(`queue/${key}`);
    if (!bytes) return null;
    const { events, endpoints } = decode<{ events: RegistryEvent[]; endpoints?: string[] }>(bytes);
    return { key, events, ...(endpoints ? { endpoints } : {}) };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.store.get(`queue/${key}`)) !== null;
  }

  /** Every record of a folder, page by page. */
  async listAll(dir: string): Promise<string[]> {
    const names: string[] = [];
    for (;;) {
      const page = await this.store.list(dir, {
        limit: PAGE,
        ...(names.length > 0 ? { after: names[names.length - 1]! } : {}),
      });
      names.push(...page);
      if (page.length < PAGE) return names;
    }
  }

  async marks(endpoint: string): Promise<EndpointMarks> {
    const names = await this.listAll(`ep/${endpoint}`);
    const marks: EndpointMarks = { done: new Set(), dead: new Set(), leases: new Map(), records: new Map() };
    for (const name of names) {
      const dot = name.indexOf('.');
      if (dot < 0) continue;
      const key = name.slice(0, dot);
      const suffix = name.slice(dot + 1);
      const records = marks.records.get(key);
      if (records) records.push(name);
      else marks.records.set(key, [name]);
      if (suffix === 'done') marks.done.add(key);
      else if (suffix === 'dead') marks.dead.add(key);
      else if (suffix.startsWith('l')) {
        const generation = Number(suffix.slice(1));
        if (Number.isInteger(generation) && generation > (marks.leases.get(key) ?? -1)) {
          marks.leases.set(key, generation);
        }
      }
    }
    return marks;
  }

  /**
   * Marks an entry delivered to an endpoint. Progress records are not flushed to disk: losing one
   * to a power failure repeats a delivery, which at-least-once delivery allows.
   */
  async markDone(endpoint: string, key: string): Promise<void> {
    await this.store.put(`ep/${endpoint}/${key}.done`, encode(Date.now()), { durable: false });
  }

  async lease(endpoint: string, key: string, generation: number): Promise<LeaseRecord | null> {
    const bytes = await this.store.get(`ep/${endpoint}/${key}.l${generation}`);
    return bytes ? decode<LeaseRecord>(bytes) : null;
  }

  /**
   * Writes a lease generation; with `create`, only if nobody else took that generation first. Not
   * flushed to disk: a lease lost to a power failure only lets a delivery be repeated.
   */
  putLease(
    endpoint: string,
    key: string,
    generation: number,
    lease: LeaseRecord,
    create: boolean,
  ): Promise<boolean> {
    return this.store.put(`ep/${endpoint}/${key}.l${generation}`, encode(lease), {
      ifAbsent: create,
      durable: false,
    });
  }

  /** Dead-letters an entry for an endpoint: the letter first, then the mark that settles it. */
  async markDead(letter: DeadLetter): Promise<void> {
    await this.store.put(`dead/${letter.endpoint}/${letter.key}`, encode(letter));
    await this.store.put(`ep/${letter.endpoint}/${letter.key}.dead`, encode(Date.now()));
  }

  async deadLetters(endpoint: string): Promise<DeadLetter[]> {
    const keys = await this.listAll(`dead/${endpoint}`);
    const letters = await Promise.all(keys.map((key) => this.store.get(`dead/${endpoint}/${key}`)));
    return letters.flatMap((bytes) => (bytes ? [decode<DeadLetter>(bytes)] : []));
  }

  async deadLetter(endpoint: string, key: string): Promise<DeadLetter | null> {
    const bytes = await this.store.get(`dead/${endpoint}/${key}`);
    return bytes ? decode<DeadLetter>(bytes) : null;
  }

  async discardDeadLetter(endpoint: string, key: string): Promise<void> {
    await this.store.delete([`dead/${endpoint}/${key}`]);
  }

  /**
   * Removes finished entries: their queue records first, so that a replica about to attempt one
   * finds it gone (see `attemptLeased` in attempt.ts), then their progress records (full keys).
   */
  async remove(keys: readonly string[], records: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.store.delete(keys.map((key) => `queue/${key}`));
    if (records.length > 0) await this.store.delete(records);
  }
}

/** The full keys of an entry's progress records in every endpoint's folder, as listed. */
export function listedRecords(key: string, marks: ReadonlyMap<string, EndpointMarks>): string[] {
  const records: string[] = [];
  for (const [endpoint, { records: names }] of marks) {
    for (const name of names.get(key) ?? []) records.push(`ep/${endpoint}/${name}`);
  }
  return records;
}
