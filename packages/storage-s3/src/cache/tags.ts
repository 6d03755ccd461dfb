/**
 * Tag targets answered again for a while without asking the bucket (opt-in: another replica's tag
 * move is seen only once an answer expires). This process's own tag writes replace its answers.
 */
export class TagCache {
  readonly #ttl: number;
  readonly #limit: number;
  readonly #entries = new Map<string, { readonly digest: string | null; readonly until: number }>();
  readonly #now: () => number;

  constructor(ttl: number, limit = 10_000, now = () => performance.now()) {
    this.#ttl = ttl;
    this.#limit = limit;
    this.#now = now;
  }

  /** The cached target (`null`: no such tag), or `undefined` when there is no fresh answer. */
  get(repository: string, tag: string): string | null | undefined {
    const key = `${repository}\u0000${tag}`;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#now() < entry.until) return entry.digest;
    this.#entries.delete(key);
    return undefined;
  }

  set(repository: string, tag: string, digest: string | null): void {
    const key = `${repository}\u0000${tag}`;
    this.#entries.delete(key);
    this.#entries.set(key, { digest, until: this.#now() + this.#ttl });
    if (this.#entries.size > this.#limit) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(repository: string, tag: string): void {
    this.#entries.delete(`${repository}\u0000${tag}`);
  }
}
