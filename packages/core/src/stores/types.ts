import type { FileHandle } from 'node:fs/promises';

/**
 * The storage contract. Core owns all registry behaviour (validation, hashing, the upload
 * protocol, ordering of writes); a backend only has to honour these interfaces, which the
 * store conformance suite (`@wharf/core/testing`) checks.
 *
 * Digests, repository names, tags and upload ids reaching a store have already been validated by
 * core against the spec's grammars, so a backend may build keys or paths from them directly.
 */

/** A byte window: `length` bytes starting at `offset`. */
export interface ByteWindow {
  readonly offset: number;
  readonly length: number;
}

/** What a store knows about a stored blob. */
export interface BlobInfo {
  readonly digest: string;
  readonly size: number;
  /**
   * When the blob was last written or touched; garbage collection's grace period counts from it.
   * `list()` must report it; `stat()` may leave it out where finding it costs extra (core's request
   * paths only need the size).
   */
  readonly modifiedAt?: Date;
}

/** Options of {@link BlobStore.put}. */
export interface BlobPutOptions {
  /** The expected size when the caller knows it (the source still decides). */
  readonly size?: number;
  readonly signal?: AbortSignal;
}

/**
 * A deletion that garbage collection makes conditional: the item goes only if it was not written
 * (or touched) after `unmodifiedSince`, so a push that reused it after the collection selected it
 * wins. Backends make the check and the removal as atomic as they can.
 */
export interface ConditionalDelete {
  readonly unmodifiedSince?: Date;
}

/**
 * An empty file on the store's own disk that becomes a blob by a rename (see
 * {@link BlobStore.stage}). Its owner writes it through {@link handle} and closes that handle
 * itself, and ends with exactly one of {@link commit} or {@link discard}.
 */
export interface StagedBlob {
  /** Open for reading and writing at explicit positions. */
  readonly handle: FileHandle;
  /**
   * Flushes what was written so far to disk (nothing when the store is not durable). Optional
   * while writing, so that {@link commit} has little left to flush.
   */
  sync(): Promise<void>;
  /**
   * Makes the file the blob `digest`, with the guarantees of {@link BlobStore.put}: durable, then
   * visible atomically (replacing an existing blob of the same digest is fine: same bytes), with
   * `modifiedAt` now. The caller verified the content. On failure nothing becomes visible and the
   * file is removed.
   */
  commit(digest: string): Promise<void>;
  /** Removes the file; nothing becomes visible. Idempotent, and harmless after a commit. */
  discard(): Promise<void>;
}

/** Options of {@link BlobStore.delete}. */
export type BlobDeleteOptions = ConditionalDelete;

/** Options of {@link BlobStore.open}. */
export interface BlobOpenOptions {
  /** Only these bytes; the caller guarantees the window lies inside the blob. */
  readonly range?: ByteWindow;
  readonly signal?: AbortSignal;
}

/**
 * Content-addressed bytes, shared by all repositories (a blob is reachable from a repository
 * only through a {@link MetadataStore} link).
 */
export interface BlobStore {
  /** Size (and age) of a blob, or `null` when it does not exist. Never reports a partial blob. */
  stat(digest: string): Promise<BlobInfo | null>;

  /**
   * Streams a blob (or a window of it), or resolves `null` when it does not exist. The stream must
   * stop and release its resources when the consumer stops iterating early or `signal` aborts.
   */
  open(digest: string, options?: BlobOpenOptions): Promise<AsyncIterable<Uint8Array> | null>;

  /**
   * Stores a blob from a stream. The caller's `source` verifies the digest as it is read and
   * throws at its end when the content is wrong, so the contract is:
   *
   * - the blob becomes visible only after `source` completes without throwing, atomically and
   *   with exactly the bytes `source` produced;
   * - if `source` throws (bad digest, client abort, I/O error), nothing becomes visible and no
   *   temporary data is left behind; the error is rethrown;
   * - writing a digest that already exists succeeds, and readers see a complete blob throughout;
   * - afterwards the blob's `modifiedAt` is the time of this call (also when it already existed).
   */
  put(digest: string, source: AsyncIterable<Uint8Array>, options?: BlobPutOptions): Promise<void>;

  /**
   * Optional: a file that can become a blob by a rename rather than a copy. The pull-through cache
   * spools a download into it, so the bytes are written to disk once (docs/architecture.md,
   * "Pull-through cache"); without it they are spooled and then {@link put}.
   */
  stage?(): Promise<StagedBlob>;

  /**
   * Removes a blob; resolves whether it was removed. With `unmodifiedSince`, removes it only if
   * its `modifiedAt` is not later than that date (garbage collection's last check against a push
   * that just reused the blob); backends make the check and the removal as atomic as they can.
   */
  delete(digest: string, options?: BlobDeleteOptions): Promise<boolean>;

  /**
   * Optional: marks an existing blob as just used, so that its `modifiedAt` becomes now (a push
   * that reuses an old blob protects it from a concurrent garbage collection's grace period).
   * Resolves whether the blob exists.
   */
  touch?(digest: string): Promise<boolean>;

  /** Enumerates every blob (for garbage collection). Order is unspecified. */
  list(): AsyncIterable<BlobInfo>;

  /**
   * Optional: a URL from which a client may fetch the blob directly (for example a presigned
   * object-store URL), or `null` to serve it through the registry.
   */
  url?(digest: string, options: { readonly expiresIn: number }): Promise<string | null>;
}

/** A resumable hasher's state, saved by core after a chunk so the final PUT need not re-read. */
export interface HashState {
  readonly algorithm: string;
  /** The number of leading upload bytes the state covers. */
  readonly offset: number;
  /** Opaque bytes produced by core. */
  readonly state: Uint8Array;
}

/** An upload session, as recorded by the {@link UploadStore}. */
export interface UploadSession {
  readonly id: string;
  readonly repository: string;
  /** The digest algorithm the client announced (`?digest-algorithm=`), `sha256` by default. */
  readonly algorithm: string;
  /** Bytes staged so far. */
  readonly size: number;
  readonly createdAt: Date;
  /** The last time bytes were appended (or the creation time); used to reap idle sessions. */
  readonly updatedAt: Date;
  /**
   * The most advanced hash state saved for this session with `offset <= size`, or `null`. It may
   * lag `size` (a crash between an append and the save); core then re-hashes the gap.
   */
  readonly hashState: HashState | null;
}

/** Options of {@link UploadStore.append}. */
export interface UploadAppendOptions {
  /** Where the chunk starts; must equal the session's current size. */
  readonly offset: number;
  /** The chunk. Like {@link BlobStore.put}'s source, it may throw at its end to reject the chunk. */
  readonly body: AsyncIterable<Uint8Array>;
  /** The chunk's length when the client declared it. */
  readonly length?: number;
  readonly signal?: AbortSignal;
}

/** Options of {@link UploadStore.commit}. */
export interface UploadCommitOptions {
  /** The verified digest of the staged bytes. */
  readonly digest: string;
  /** The number of staged bytes the digest covers; must equal the session's size. */
  readonly size: number;
  readonly signal?: AbortSignal;
}

/**
 * Upload sessions. Everything about an upload lives here, never in process memory, so the POST,
 * PATCH and PUT of one push may each reach a different registry instance. Failures are the
 * storage-neutral errors of `stores/errors.ts`; core turns them into the spec's codes.
 */
export interface UploadStore {
  /**
   * The smallest chunk the backend handles efficiently, advertised to clients as
   * `OCI-Chunk-Min-Length`. Optional.
   */
  readonly minChunkLength?: number;

  /** Creates an empty session. `id` is a fresh UUID chosen by core. */
  create(init: {
    readonly id: string;
    readonly repository: string;
    readonly algorithm: string;
  }): Promise<UploadSession>;

  /** The session, or `null` when it does not exist (never created, committed or deleted). */
  get(id: string): Promise<UploadSession | null>;

  /**
   * Appends a chunk at `offset`, atomically with respect to other writers:
   *
   * - if `offset` is not the session's size when the chunk is claimed, it throws
   *   {@link OffsetMismatchError} and the staged bytes are unchanged;
   * - of two appends racing at the same offset, at most one succeeds; the staged bytes are then
   *   exactly the winner's;
   * - if `body` throws, the session is unchanged and the chunk's bytes are discarded;
   * - throws {@link UploadNotFoundError} when the session does not exist.
   *
   * Resolves the updated session.
   */
  append(id: string, options: UploadAppendOptions): Promise<UploadSession>;

  /**
   * Records a hash state (best effort: a state for an offset the session no longer matches may be
   * ignored). A later {@link get} reports the most advanced saved state; through another replica
   * of the same storage it may see the state only a little later (a store may write it behind the
   * response), and meanwhile reports an older one.
   */
  saveHashState(id: string, state: HashState): Promise<void>;

  /** Streams staged bytes (used only to re-hash what a saved state does not cover). */
  read(id: string, window: ByteWindow, signal?: AbortSignal): AsyncIterable<Uint8Array>;

  /**
   * Atomically turns the staged bytes into the blob `digest` of the paired {@link BlobStore} and
   * removes the session:
   *
   * - throws {@link OffsetMismatchError} when `size` differs from the staged size (nothing changes);
   * - the blob becomes visible complete or not at all; if the blob already exists (another upload
   *   of the same content committed first) the commit still succeeds and the blob stays complete;
   * - afterwards the blob's `modifiedAt` is the time of the commit (also when it already existed);
   * - throws {@link UploadNotFoundError} when the session does not exist.
   */
  commit(id: string, options: UploadCommitOptions): Promise<void>;

  /** Cancels a session and frees its staged data; resolves whether it existed. */
  delete(id: string): Promise<boolean>;

  /** Enumerates sessions (for reaping abandoned uploads). Order is unspecified. */
  list(): AsyncIterable<UploadSession>;

  /**
   * Optional: removes what writers that crashed left outside any live session (a commit's staging
   * files, incomplete multipart uploads of a blob, temporary files), which no session listing
   * finds. Garbage collection calls it after reaping idle sessions. Resolves what was removed (or,
   * with `dryRun`, would be).
   */
  reapLeftovers?(options: LeftoverOptions): Promise<Leftover[]>;
}

/** Options of {@link UploadStore.reapLeftovers}. */
export interface LeftoverOptions {
  /**
   * Leftovers of upload sessions (a crashed commit's or cancel's files) untouched since before
   * this may go; garbage collection passes now minus its `uploadMaxAge`.
   */
  readonly sessionsBefore: Date;
  /**
   * Other leftovers (an interrupted blob write, such as an incomplete multipart upload of a blob's
   * key) started before this may go; garbage collection passes now minus its `gracePeriod`.
   */
  readonly othersBefore: Date;
  /** Only report. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

/** Something {@link UploadStore.reapLeftovers} removed. */
export interface Leftover {
  /** What it was, for reports (a path or key, and its kind). */
  readonly description: string;
  /** Bytes it held, when known (else 0). */
  readonly size: number;
}

/** A manifest revision of a repository. */
export interface ManifestRecord {
  readonly digest: string;
  /** The media type the client pushed; `undefined` when the store does not know it. */
  readonly mediaType?: string;
  readonly createdAt?: Date;
}

/** A blob link of a repository. */
export interface BlobLink {
  readonly digest: string;
  readonly createdAt?: Date;
}

/** A manifest listed by the referrers API: a descriptor with `artifactType` and annotations. */
export interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Pagination of name listings: names strictly after `after`, at most `limit` of them. */
export interface ListPage {
  readonly after?: string;
  readonly limit?: number;
}

/**
 * Repositories and what they reference: blob links, manifest revisions, tags and the referrers
 * index. Every write is a single atomic record write; core orders them so that a crash leaves at
 * worst unreferenced data, never a reference to missing data.
 */
export interface MetadataStore {
  /**
   * Makes a blob pullable from a repository (idempotent). A repeated call refreshes the link's
   * `createdAt`: garbage collection's grace period counts from the latest call.
   */
  linkBlob(repository: string, digest: string): Promise<void>;
  /** Whether the repository links the blob. */
  hasBlobLink(repository: string, digest: string): Promise<boolean>;
  /**
   * Removes a blob link; resolves whether it was removed. With `unmodifiedSince`, only if the link
   * was not (re)written after that date.
   */
  unlinkBlob(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean>;
  /** Enumerates a repository's blob links. */
  listBlobLinks(repository: string): AsyncIterable<BlobLink>;

  /**
   * Records a manifest revision (idempotent; a later call may update the media type and refreshes
   * the revision's `createdAt`).
   */
  putManifest(
    repository: string,
    record: { readonly digest: string; readonly mediaType: string },
  ): Promise<void>;
  /** A manifest revision, or `null`. */
  getManifest(repository: string, digest: string): Promise<ManifestRecord | null>;
  /**
   * Removes a manifest revision (not its tags: core deletes those first); resolves whether it was
   * removed. With `unmodifiedSince`, only if the revision was not (re)written after that date.
   */
  deleteManifest(repository: string, digest: string, options?: ConditionalDelete): Promise<boolean>;
  /** Enumerates a repository's manifest revisions. */
  listManifests(repository: string): AsyncIterable<ManifestRecord>;

  /** Points a tag at a manifest digest (creating or moving it). */
  putTag(repository: string, tag: string, digest: string): Promise<void>;
  /** The digest a tag points at, or `null`. */
  getTag(repository: string, tag: string): Promise<string | null>;
  /** Removes a tag; resolves whether it existed. */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** A page of a repository's tags in ASCIIbetical (byte-wise) order. */
  listTags(repository: string, page?: ListPage): Promise<string[]>;

  /** Adds (or replaces) a manifest in the referrers index of `subject`. */
  putReferrer(repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void>;
  /** Removes a manifest from the referrers index of `subject`; resolves whether it was there. */
  deleteReferrer(repository: string, subject: string, digest: string): Promise<boolean>;
  /** Every manifest in the referrers index of `subject`, in any order. */
  listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]>;

  /** A page of repository names in ASCIIbetical order (repositories with any link, revision or tag). */
  listRepositories(page?: ListPage): Promise<string[]>;
  /** Whether the repository has any link, revision or tag. */
  hasRepository(repository: string): Promise<boolean>;
}

/** Options of {@link EventStore.put}. */
export interface EventPutOptions {
  /** Write only when no record has the key (`If-None-Match: *`, `link(2)`). */
  readonly ifAbsent?: boolean;
  /**
   * `false`: the record need not survive a power failure (it must survive a crash of the process),
   * so a backend may skip flushing it to disk. Core uses it for delivery progress, which it can
   * rebuild at the cost of a repeated delivery. Default `true`.
   */
  readonly durable?: boolean;
  /**
   * The caller promises that no record ever had this key and none will be written with it again
   * (a key unique by construction, like an outbox entry's). A backend may then keep the record in
   * an append-only log rather than in a file or object of its own, which makes a durable write one
   * append and one flush. Reads, listings and deletes see it like any other record, also from
   * other replicas. Default `false`.
   */
  readonly unique?: boolean;
}

/**
 * Small records of the event outbox: the queue of recorded events, delivery progress, leases and
 * dead letters, all laid out by core (`events/outbox.ts`). Replicas sharing the store share the
 * outbox, so it must be as shared and as durable as the other stores.
 *
 * Keys are built by core: `/`-separated components of letters, digits, `.`, `_` and `-` (never
 * `.` or `..`, see {@link isEventKey}). The last component names a record, the others its folder.
 */
export interface EventStore {
  /**
   * Writes a record and resolves once it is durable (see `durable`). Readers see the old value or the new, never
   * a part. With `ifAbsent`, writes only when no record has the key, atomically: of writers racing
   * for one key exactly one succeeds. Resolves whether it wrote.
   */
  put(key: string, value: Uint8Array, options?: EventPutOptions): Promise<boolean>;
  /** A record's bytes, or `null` when there is none. */
  get(key: string): Promise<Uint8Array | null>;
  /** Removes records; missing ones are no error. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * The names (last components) of the records directly in the folder `dir` (a key prefix without
   * its trailing `/`), in byte order, after `page.after`, at most `page.limit` (default all). Records
   * in deeper folders are not listed; an empty or unknown folder lists nothing.
   */
  list(dir: string, page?: ListPage): Promise<string[]>;
}

/** The stores a registry runs on. */
export interface RegistryStorage {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly metadata: MetadataStore;
  /**
   * The event outbox. Optional: without it events reach in-process subscribers (`onEvent`) only,
   * and a registry with event endpoints refuses to start.
   */
  readonly events?: EventStore;
}
