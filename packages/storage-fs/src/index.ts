/**
 * `@wharf/storage-fs`: wharf's storage on a local directory, in the layout of CNCF distribution's
 * filesystem driver, so a tree written by `registry` (distribution 2.x) is served by wharf and a
 * tree written by wharf is served by `registry`.
 *
 * @example
 * ```ts
 * import { createRegistry } from '@wharf/core';
 * import { createFsStorage } from '@wharf/storage-fs';
 *
 * const storage = await createFsStorage({ root: './data' });
 * const registry = createRegistry({ storage });
 * ```
 *
 * @packageDocumentation
 */
import * as fsp from 'node:fs/promises';
import { type BlobStore, type EventStore, OptionsError, type RegistryStorage } from '@wharf/core';
import { FsBlobStore } from './blob-store.js';
import { type FsOperations, Io } from './io.js';
import { Layout } from './layout.js';
import { FsMetadataStore } from './metadata-store.js';
import { FsEventStore } from './outbox.js';
import { FsUploadStore } from './upload-store.js';

export type { FsOperations } from './io.js';

/** Options of {@link createFsStorage}. */
export interface FsStorageOptions {
  /**
   * The storage root directory (created if missing). Data lives under
   * `<root>/docker/registry/v2/`, as with distribution's `rootdirectory`.
   */
  readonly root: string;
  /**
   * Flush file data and directory entries to disk before a blob, a link, a tag or a manifest is
   * acknowledged (and each chunk of an upload, with `syncChunks`), so that what a client was told
   * is stored survives power loss. Default `true`; turn off only for disposable data (a crash of
   * the process alone never loses acknowledged writes either way).
   */
  readonly fsync?: boolean;
  /**
   * Flush every accepted chunk (a `PATCH`'s bytes and its claim) to disk before its `202`, so that
   * an acknowledged chunk survives power loss. Default `false`: a `202` promises that the chunk
   * survives a crash of the process (kill -9, out of memory), and the `201` that completes the
   * upload promises that the blob survives power loss (it is flushed before it becomes visible).
   * A session whose chunks were not flushed ends when the machine reboots; its client starts that
   * blob over. Needs `fsync`.
   */
  readonly syncChunks?: boolean;
  /**
   * Replacements for the `node:fs/promises` functions the store calls. Meant for fault-injection
   * tests (simulating a full disk, a permission error or descriptor exhaustion).
   */
  readonly fs?: Partial<FsOperations>;
}

/** Filesystem storage: the stores plus the root they live in. */
export interface FsStorage extends RegistryStorage {
  /** The blob store; it implements the optional `touch`. */
  readonly blobs: BlobStore & Required<Pick<BlobStore, 'touch'>>;
  /** The event outbox, under `_wharf/events/` (and its entries' log under `_wharf/events-log/`). */
  readonly events: EventStore;
  /** The resolved storage root. */
  readonly root: string;
  /**
   * Waits for background work (merging acknowledged chunks, which is an optimisation), closes the
   * event log's open segment and releases in-memory caches. Nothing needs flushing: every
   * acknowledged write is on disk.
   */
  close(): Promise<void>;
}

const NODE_FS: FsOperations = {
  open: fsp.open,
  rename: fsp.rename,
  link: fsp.link,
  unlink: fsp.unlink,
  mkdir: fsp.mkdir,
  rmdir: fsp.rmdir,
  rm: fsp.rm,
  readdir: fsp.readdir,
  stat: fsp.stat,
  utimes: fsp.utimes,
};

/** Checks options where they enter: a bad one is an {@link OptionsError} naming it. */
function checkOptions(options: FsStorageOptions): void {
  const fail = (option: string, problem: string): never => {
    throw new OptionsError('createFsStorage', option, problem);
  };
  if (typeof options !== 'object' || options === null) fail('options', 'must be an object with a root');
  const { root, fsync, fs } = options;
  // An empty root would silently mean the working directory.
  if (typeof root !== 'string' || root.trim() === '') fail('root', 'must be a non-empty path');
  if (root.includes('\0')) fail('root', 'must not contain NUL');
  if (fsync !== undefined && typeof fsync !== 'boolean') fail('fsync', 'must be true or false');
  if (options.syncChunks !== undefined && typeof options.syncChunks !== 'boolean')
    fail('syncChunks', 'must be true or false');
  if (fs !== undefined) {
    if (typeof fs !== 'object' || fs === null) fail('fs', 'must be an object of node:fs/promises functions');
    for (const [name, value] of Object.entries(fs)) {
      if (!(name in NODE_FS)) fail(`fs.${name}`, `is not one of ${Object.keys(NODE_FS).join(', ')}`);
      if (typeof value !== 'function') fail(`fs.${name}`, 'must be a function');
    }
  }
}

/**
 * Opens (creating if needed) filesystem storage at `options.root`. Several processes may share one
 * root — replicas on one machine, or wharf next to distribution's `registry` — because every
 * state change is a single atomic rename(2) or link(2) and no state is kept in memory.
 *
 * The root must be a local POSIX file system with hard links (ext4, xfs, btrfs, tmpfs, overlayfs):
 * upload chunks are claimed with link(2).
 */
export async function createFsStorage(options: FsStorageOptions): Promise<FsStorage> {
  checkOptions(options);
  const layout = new Layout(options.root);
  const fs: FsOperations = { ...NODE_FS, ...options.fs };
  const io = new Io(fs, options.fsync ?? true, (prefix) => layout.temp(prefix));
  for (const dir of [layout.blobsDir, layout.repositoriesDir, layout.uploadsDir, layout.tmpDir]) {
    await fs.mkdir(dir, { recursive: true });
  }
  const blobs = new FsBlobStore(layout, io);
  const uploads = new FsUploadStore(layout, io, blobs, options.syncChunks ?? false);
  const metadata = new FsMetadataStore(layout, io);
  const events = new FsEventStore(layout.base, io);
  return {
    blobs,
    uploads,
    metadata,
    events,
    root: layout.root,
    async close() {
      await uploads.settle();
      uploads.forget();
      metadata.forget();
      await events.close();
    },
  };
}
