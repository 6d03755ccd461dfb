import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../objects/types.js';
import { quietly } from '../util.js';

/** Timing of {@link DeletionNotices} (milliseconds). */
export interface NoticeSettings {
  /**
   * How long a check that found no deletion in progress lets this process answer from its cache,
   * counted from when the check started. A deleter waits this long plus {@link maxCheck} after
   * announcing itself before it deletes anything.
   */
  readonly lease: number;
  /** A check slower than this does not renew the lease. */
  readonly maxCheck: number;
  /** A deleter's window stays open this long after its last deletion (sequential deletes share it). */
  readonly linger: number;
  /**
   * Announcements older than this (by the server's date) were left by a deleter that crashed;
   * they are ignored, and removed by the next deleter. Live deleters renew theirs at a quarter of it.
   */
  readonly staleAfter: number;
}

/** The timing that follows from a lease: checks may take half of it, windows linger as long. */
export function noticeSettings(lease: number): NoticeSettings {
  return { lease, maxCheck: lease / 2, linger: lease / 2, staleAfter: 10 * 60 * 1000 };
}

/** When a read started, to decide whether its result may be cached (see {@link DeletionNotices.accepts}). */
export interface ReadTicket {
  readonly generation: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Deletion notices: how replicas sharing a bucket keep in-process caches of deletable facts (a blob
 * exists with this size, a repository links a digest) correct without talking to each other. See
 * docs/architecture.md, "Caching on S3".
 *
 * - A deleter announces itself with an object under `_wharf/deleting/`, waits `lease + maxCheck`,
 *   deletes, and removes the announcement `linger` after its last deletion.
 * - A reader answers from its cache only while it holds a lease: a listing of `_wharf/deleting/`
 *   that started less than `lease` ago, found no live announcement, and took less than `maxCheck`.
 *   A listing that finds one, or a lapse in the chain of listings, drops the cache; nothing is
 *   cached while an announcement is up.
 *
 * Any deletion therefore happens at least `lease + maxCheck` after its announcement became
 * visible, so every reader either saw the announcement (and dropped what it knew) or lets its
 * lease lapse before the deletion: a cached fact is never used after the fact stopped being true.
 */
export class DeletionNotices {
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #settings: NoticeSettings;
  readonly #now: () => number;
  /** This process's announcement key. */
  readonly #mine: string;

  /** Bumped whenever the cache must be dropped; reads that started before do not get cached. */
  #generation = 0;
  /** The cache may answer until this time (monotonic clock); `-Infinity`: no lease. */
  #validUntil = Number.NEGATIVE_INFINITY;
  #checking: Promise<void> | undefined;
  /** Deletions of this process in progress, and its window's state. */
  #active = 0;
  #window: { opened: Promise<void>; announcedAt: number } | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(store: ObjectStore, prefix: string, settings: NoticeSettings, now = () => performance.now()) {
    this.#store = store;
    this.#prefix = prefix;
    this.#settings = settings;
    this.#now = now;
    this.#mine = `${prefix}${randomBytes(8).toString('hex')}`;
  }

  /** The current generation: cached facts belong to it. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Whether the cache may answer now. Renews the lease in the background when it runs low, so a
   * busy process keeps it; an idle one lets it lapse and checks again on its next read.
   */
  usable(): boolean {
    if (this.#window) return false;
    const now = this.#now();
    if (now >= this.#validUntil - this.#settings.lease / 2) this.#check();
    return now < this.#validUntil;
  }

  /** Marks the start of a read whose result may be cached. */
  ticket(): ReadTicket {
    return { generation: this.#generation };
  }

  /** Whether a read that started with `ticket` may be cached now. */
  accepts(ticket: ReadTicket): boolean {
    return ticket.generation === this.#generation && !this.#window && this.#now() < this.#validUntil;
  }

  #drop(): void {
    this.#generation++;
  }

  #check(): void {
    this.#checking ??= this.#listAnnouncements().finally(() => {
      this.#checking = undefined;
    });
  }

  async #listAnnouncements(): Promise<void> {
    const started = this.#now();
    let live: boolean;
    try {
      const page = await this.#store.list(this.#prefix, { maxKeys: 100 });
      const fresh = Date.now() - this.#settings.staleAfter;
      live = page.objects.some((o) => o.lastModified.getTime() > fresh) || page.next !== undefined;
    } catch {
      // Unknown: let the lease lapse (reads go to the bucket meanwhile).
      return;
    }
    if (live) {
      this.#drop();
      this.#validUntil = Number.NEGATIVE_INFINITY;
      return;
    }
    if (this.#now() - started > this.#settings.maxCheck) return;
    // A gap in the chain of checks may hide a whole deletion window: start afresh.
    if (started >= this.#validUntil) this.#drop();
    this.#validUntil = Math.max(this.#validUntil, started + this.#settings.lease);
  }

  /**
   * Runs a deletion inside this process's announced window: opens it (announce, then wait
   * `lease + maxCheck`) unless it is open already, and keeps it open until `linger` after the last
   * deletion ends.
   */
  async deleting<T>(fn: () => Promise<T>): Promise<T> {
    this.#active++;
    try {
      await this.#open();
      return await fn();
    } finally {
      this.#active--;
      if (this.#active === 0) this.#scheduleClose();
    }
  }

  async #open(): Promise<void> {
    if (this.#closeTimer) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    await this.#closing;
    if (!this.#window) {
      this.#drop();
      const wait = this.#settings.lease + this.#settings.maxCheck;
      const window = { opened: this.#announce().then(() => sleep(wait)), announcedAt: this.#now() };
      this.#window = window;
      window.opened.catch(() => {
        if (this.#window === window) this.#window = undefined;
      });
    }
    const window = this.#window;
    await window.opened;
    // A long window (a collection sweeping for minutes) renews its announcement before it goes stale.
    if (this.#now() - window.announcedAt > this.#settings.staleAfter / 4) {
      window.announcedAt = this.#now();
      await this.#announce();
    }
  }

  async #announce(): Promise<void> {
    await this.#store.put(this.#mine, new Uint8Array(0));
    // Announcements of crashed deleters: stale, and only in the way of a quick listing.
    const stale = Date.now() - 2 * this.#settings.staleAfter;
    await quietly(async () => {
      const page = await this.#store.list(this.#prefix, { maxKeys: 100 });
      const old = page.objects.filter((o) => o.lastModified.getTime() < stale).map((o) => o.key);
      if (old.length > 0) await this.#store.delete(old);
    });
  }

  #scheduleClose(): void {
    if (!this.#window || this.#closeTimer) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      void this.close();
    }, this.#settings.linger);
    this.#closeTimer.unref();
  }

  /** Withdraws this process's announcement now (when no deletion is running). */
  async close(): Promise<void> {
    if (this.#closeTimer) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    if (!this.#window || this.#active > 0) return;
    const window = this.#window;
    this.#closing ??= (async () => {
      await window.opened.catch(() => {});
      await quietly(() => this.#store.delete([this.#mine]));
      if (this.#window === window) this.#window = undefined;
      // Reads that started while the window was open may have seen an item that was deleted after
      // them: they are not cached; reads that start from now on are.
      this.#drop();
    })().finally(() => {
      this.#closing = undefined;
    });
    await this.#closing;
  }
}
