import type { DeletionNotices, ReadTicket } from './notices.js';

/** What the cache holds, by kind. */
interface FactKinds {
  /** A blob exists with this size (by digest). */
  readonly blob: number;
  /** A repository links a blob (by repository and digest). */
  readonly link: true;
  /** A repository has a manifest revision, with this media type if known (by repository and digest). */
  readonly revision: { readonly mediaType: string | undefined };
}

type Kind = keyof FactKinds;

interface Entry {
  readonly value: unknown;
  readonly generation: number;
}

/**
 * Facts that stay true until something is deleted, cached in process: a blob's size, a link, a
 * manifest revision. Deletions anywhere (this process or another replica) invalidate them through
 * {@link DeletionNotices}; without notices (turned off) nothing is cached. Bounded: the oldest
 * entries go first.
 */
export class FactCache {
  readonly #notices: DeletionNotices | undefined;
  readonly #limit: number;
  readonly #entries = new Map<string, Entry>();

  constructor(notices: DeletionNotices | undefined, limit = 100_000) {
    this.#notices = notices;
    this.#limit = limit;
  }

  /** A cached fact, when the cache may answer now. */
  get<K extends Kind>(kind: K, key: string): FactKinds[K] | undefined {
    const notices = this.#notices;
    if (!notices?.usable()) return undefined;
    const entry = this.#entries.get(`${kind}\u0000${key}`);
    if (!entry) return undefined;
    if (entry.generation !== notices.generation) {
      this.#entries.delete(`${kind}\u0000${key}`);
      return undefined;
    }
    return entry.value as FactKinds[K];
  }

  /** Taken before reading or writing a fact in the bucket; {@link set} needs it. */
  ticket(): ReadTicket | undefined {
    return this.#notices?.ticket();
  }

  /** Caches a fact read (or written) since `ticket` was taken, unless a deletion may have intervened. */
  set<K extends Kind>(ticket: ReadTicket | undefined, kind: K, key: string, value: FactKinds[K]): void {
    if (!ticket || !this.#notices?.accepts(ticket)) return;
    const id = `${kind}\u0000${key}`;
    this.#entries.delete(id);
    this.#entries.set(id, { value, generation: ticket.generation });
    if (this.#entries.size > this.#limit) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forgets a fact this process is about to change. */
  delete(kind: Kind, key: string): void {
    this.#entries.delete(`${kind}\u0000${key}`);
  }

  /** Runs a deletion, announced to every replica first (see {@link DeletionNotices}). */
  deleting<T>(fn: () => Promise<T>): Promise<T> {
    return this.#notices ? this.#notices.deleting(fn) : fn();
  }

  /** Withdraws this process's deletion announcement and forgets everything. */
  async close(): Promise<void> {
    this.#entries.clear();
    await this.#notices?.close();
  }
}
