import { type Clock, systemClock } from '../../clock.js';
import type {
  BlobLink,
  ConditionalDelete,
  ListPage,
  ManifestRecord,
  MetadataStore,
  ReferrerDescriptor,
} from '../types.js';

interface Repository {
  readonly links: Map<string, Date>;
  readonly manifests: Map<string, { mediaType: string; createdAt: Date }>;
  readonly tags: Map<string, string>;
  readonly referrers: Map<string, Map<string, ReferrerDescriptor>>;
}

/** Byte-wise ("ASCIIbetical") page of sorted names. */
export function pageOf(names: Iterable<string>, page: ListPage = {}): string[] {
  const sorted = [...names].sort(compareBytewise);
  const start =
    page.after === undefined ? 0 : sorted.findIndex((name) => compareBytewise(name, page.after!) > 0);
  if (start < 0) return [];
  return sorted.slice(start, page.limit === undefined ? undefined : start + page.limit);
}

/** Compares strings by UTF-16 code unit, which is byte order for the ASCII names the spec allows. */
export function compareBytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A {@link MetadataStore} in process memory. */
export class MemoryMetadataStore implements MetadataStore {
  readonly #repositories = new Map<string, Repository>();
  readonly #clock: Clock;

  constructor(options: { readonly clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  #repo(name: string): Repository | undefined {
    return this.#repositories.get(name);
  }

  #ensure(name: string): Repository {
    let repo = this.#repositories.get(name);
    if (!repo) {
      repo = { links: new Map(), manifests: new Map(), tags: new Map(), referrers: new Map() };
      this.#repositories.set(name, repo);
    }
    return repo;
  }

  async linkBlob(repository: string, digest: string): Promise<void> {
    this.#ensure(repository).links.set(digest, new Date(this.#clock.now()));
  }

  async hasBlobLink(repository: string, digest: string): Promise<boolean> {
    return this.#repo(repository)?.links.has(digest) ?? false;
  }

  async unlinkBlob(repository: string, digest: string, options: ConditionalDelete = {}): Promise<boolean> {
    const links = this.#repo(repository)?.links;
    const createdAt = links?.get(digest);
    if (!links || !createdAt || isNewer(createdAt, options)) return false;
    return links.delete(digest);
  }

  async *listBlobLinks(repository: string): AsyncIterable<BlobLink> {
    for (const [digest, createdAt] of [...(this.#repo(repository)?.links ?? [])]) yield { digest, createdAt };
  }

  async putManifest(repository: string, record: { digest: string; mediaType: string }): Promise<void> {
    this.#ensure(repository).manifests.set(record.digest, {
      mediaType: record.mediaType,
      createdAt: new Date(this.#clock.now()),
    });
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const manifest = this.#repo(repository)?.manifests.get(digest);
    return manifest ? { digest, ...manifest } : null;
  }

  async deleteManifest(
    repository: string,
    digest: string,
    options: ConditionalDelete = {},
  ): Promise<boolean> {
    const manifests = this.#repo(repository)?.manifests;
    const record = manifests?.get(digest);
    if (!manifests || !record || isNewer(record.createdAt, options)) return false;
    return manifests.delete(digest);
  }

  async *listManifests(repository: string): AsyncIterable<ManifestRecord> {
    for (const [digest, manifest] of [...(this.#repo(repository)?.manifests ?? [])])
      yield { digest, ...manifest };
  }

  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    this.#ensure(repository).tags.set(tag, digest);
  }

  async getTag(repository: string, tag: string): Promise<string | null> {
    return this.#repo(repository)?.tags.get(tag) ?? null;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.#repo(repository)?.tags.delete(tag) ?? false;
  }

  async listTags(repository: string, page?: ListPage): Promise<string[]> {
    return pageOf(this.#repo(repository)?.tags.keys() ?? [], page);
  }

  async putReferrer(repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> {
    const referrers = this.#ensure(repository).referrers;
    let index = referrers.get(subject);
    if (!index) {
      index = new Map();
      referrers.set(subject, index);
    }
    index.set(descriptor.digest, structuredClone(descriptor));
  }

  async deleteReferrer(repository: string, subject: string, digest: string): Promise<boolean> {
    return this.#repo(repository)?.referrers.get(subject)?.delete(digest) ?? false;
  }

  async listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]> {
    return [...(this.#repo(repository)?.referrers.get(subject)?.values() ?? [])].map((d) =>
      structuredClone(d),
    );
  }

  async listRepositories(page?: ListPage): Promise<string[]> {
    const names = [...this.#repositories].filter(([, repo]) => !isEmpty(repo)).map(([name]) => name);
    return pageOf(names, page);
  }

  async hasRepository(repository: string): Promise<boolean> {
    const repo = this.#repo(repository);
    return repo !== undefined && !isEmpty(repo);
  }
}

function isNewer(date: Date, options: ConditionalDelete): boolean {
  return options.unmodifiedSince !== undefined && date > options.unmodifiedSince;
}

function isEmpty(repo: Repository): boolean {
  return repo.links.size === 0 && repo.manifests.size === 0 && repo.tags.size === 0;
}
