import type { ResolvedEndpoint } from './endpoint.js';
import {
  type EndpointMarks,
  entryTime,
  type LeaseRecord,
  listedRecords,
  type OutboxEntry,
} from './outbox.js';
import type { RegistryEvent } from './types.js';

/**
 * An entry that vanished from the listing (another replica finished it) is forgotten once it is
 * this old: an entry this process recorded a moment ago may not be listed yet.
 */
const FORGET_AFTER_MS = 60_000;
/** Entries remembered before delivery starts, at most (a registry that records and never delivers). */
const MAX_UNSTARTED = 10_000;

/** What this process did to one entry at one endpoint (newer than the last listing, perhaps). */
export interface Progress {
  /** The highest lease generation this process created or read, and that lease as last seen. */
  generation: number | undefined;
  lease: LeaseRecord | undefined;
  /** Delivered or dead-lettered by this process. */
  settled: boolean;
  /** This process wrote the `.done` record. */
  done: boolean;
}

/**
 * What one replica knows about the outbox: the entries (read once, or known because it recorded
 * them), each endpoint's records at the last listing, and what it wrote itself since, which a
 * listing that started earlier does not show.
 */
export class OutboxView {
  readonly #endpoints: readonly ResolvedEndpoint[];
  readonly #entries = new Map<string, OutboxEntry>();
  /** Keys of the entries this process recorded (while it remembers them). */
  readonly #own = new Set<string>();
  #marks = new Map<string, EndpointMarks>();
  /** By `<endpoint>/<entry>`. */
  readonly #progress = new Map<string, Progress>();
  /** Entries this process removed, forgotten once a listing that started later shows them gone. */
  #removed = new Set<string>();

  constructor(endpoints: readonly ResolvedEndpoint[]) {
    this.#endpoints = endpoints;
  }

  /** An entry this process recorded: known without reading it back, and its own to deliver first. */
  recorded(entry: OutboxEntry, started: boolean): void {
    if (!started && this.#entries.size >= MAX_UNSTARTED) return;
    this.#entries.set(entry.key, entry);
    this.#own.add(entry.key);
  }

  /** Whether this process recorded the entry (and still remembers doing so). */
  own(key: string): boolean {
    return this.#own.has(key);
  }

  entry(key: string): OutboxEntry | undefined {
    return this.#entries.get(key);
  }

  /** An entry read from the store. */
  loaded(entry: OutboxEntry): void {
    this.#entries.set(entry.key, entry);
  }

  /** Call before listing the queue: what this process removed so far, to forget after the listing. */
  removedSoFar(): string[] {
    const removed = [...this.#removed];
    this.#removed.clear();
    return removed;
  }

  /** Entries this process removed from the store. */
  removed(keys: readonly string[]): void {
    for (const key of keys) this.#removed.add(key);
  }

  /** Whether this process removed the entry since the last listing began. */
  wasRemoved(key: string): boolean {
    return this.#removed.has(key);
  }

  /**
   * Takes in a listing of the queue (the oldest `window` keys, listed at `listedAt`): forgets what
   * this process removed before it and what other replicas removed. Returns whether a key is gone.
   */
  listed(
    keys: readonly string[],
    window: number,
    listedAt: number,
    removedBefore: readonly string[],
  ): (key: string) => boolean {
    for (const key of removedBefore) this.#forget(key);
    const listed = new Set(keys);
    const complete = keys.length < window;
    const last = keys[keys.length - 1] ?? '';
    const gone = (key: string) => !listed.has(key) && (complete || key < last);
    for (const key of this.#entries.keys()) {
      if (gone(key) && entryTime(key) < listedAt - FORGET_AFTER_MS) this.#forget(key);
    }
    return gone;
  }

  /** Each endpoint's records, as just listed. */
  set marks(marks: Map<string, EndpointMarks>) {
    this.#marks = marks;
  }

  get marks(): ReadonlyMap<string, EndpointMarks> {
    return this.#marks;
  }

  #forget(key: string): void {
    this.#entries.delete(key);
    this.#own.delete(key);
    for (const endpoint of this.#endpoints) this.#progress.delete(`${endpoint.name}/${key}`);
  }

  progress(endpoint: string, key: string): Progress | undefined {
    return this.#progress.get(`${endpoint}/${key}`);
  }

  /** This process's progress record of an entry at an endpoint, created when missing. */
  track(endpoint: string, key: string): Progress {
    const id = `${endpoint}/${key}`;
    const known = this.#progress.get(id);
    if (known) return known;
    const fresh: Progress = { generation: undefined, lease: undefined, settled: false, done: false };
    this.#progress.set(id, fresh);
    return fresh;
  }

  /** The latest lease generation known: listed, or written or read by this process since. */
  generation(endpoint: string, key: string): number | undefined {
    const listed = this.#marks.get(endpoint)?.leases.get(key);
    const local = this.progress(endpoint, key)?.generation;
    if (listed === undefined) return local;
    return local === undefined ? listed : Math.max(listed, local);
  }

  /** The events of an entry the endpoint wants (none when it is not addressed to it). */
  wanted(endpoint: ResolvedEndpoint, entry: OutboxEntry): readonly RegistryEvent[] {
    if (entry.endpoints && !entry.endpoints.includes(endpoint.name)) return [];
    return entry.events.filter(endpoint.wants);
  }

  /** Delivered, dead-lettered or not wanted by the endpoint. */
  settled(endpoint: ResolvedEndpoint, entry: OutboxEntry): boolean {
    const marks = this.#marks.get(endpoint.name);
    return (
      this.progress(endpoint.name, entry.key)?.settled === true ||
      marks?.done.has(entry.key) === true ||
      marks?.dead.has(entry.key) === true ||
      this.wanted(endpoint, entry).length === 0
    );
  }

  /** Whether every endpoint has settled the entry. */
  finished(entry: OutboxEntry): boolean {
    return this.#endpoints.every((endpoint) => this.settled(endpoint, entry));
  }

  /** The full keys of an entry's progress records: those listed and those this process wrote since. */
  records(key: string): string[] {
    const records = new Set(listedRecords(key, this.#marks));
    for (const { name } of this.#endpoints) {
      const progress = this.progress(name, key);
      // Every generation up to the last: this process may have created some after the listing.
      for (let generation = 0; generation <= (progress?.generation ?? -1); generation++) {
        records.add(`ep/${name}/${key}.l${generation}`);
      }
      if (progress?.done) records.add(`ep/${name}/${key}.done`);
    }
    return [...records];
  }
}
