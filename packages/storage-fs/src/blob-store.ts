import { join } from 'node:path';
import {
  type BlobDeleteOptions,
  type BlobInfo,
  type BlobOpenOptions,
  type BlobPutOptions,
  type BlobStore,
  type StagedBlob,
  tryParseDigest,
} from '@wharf/core';
import { isMissing } from './errors.js';
import { noop } from './file-io.js';
import type { Io } from './io.js';
import type { Layout } from './layout.js';

/**
 * Blobs at `blobs/<alg>/<2 hex>/<hex>/data`. A blob appears only by rename(2) of a complete,
 * synced file, so readers never see a partial blob and concurrent writers of one digest all win.
 */
export class FsBlobStore implements BlobStore {
  readonly #layout: Layout;
  readonly #io: Io;

  constructor(layout: Layout, io: Io) {
    this.#layout = layout;
    this.#io = io;
  }

  async stat(digest: string): Promise<BlobInfo | null> {
    try {
      const info = await this.#io.fs.stat(this.#layout.blobData(digest));
      if (!info.isFile()) return null;
      return { digest, size: info.size, modifiedAt: info.mtime };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async open(digest: string, options: BlobOpenOptions = {}): Promise<AsyncIterable<Uint8Array> | null> {
    return this.#io.openRange(this.#layout.blobData(digest), options.range, options.signal);
  }

  async put(digest: string, source: AsyncIterable<Uint8Array>, options: BlobPutOptions = {}): Promise<void> {
    const dir = this.#layout.blobDir(digest);
    const temp = this.#io.temp('blob');
    // Core stores a blob only when it is missing: its directory is made (and synced) meanwhile.
    const made = this.#io.makeDir(dir);
    made.catch(noop);
    try {
      const handle = await this.#io.create(temp);
      try {
        await this.#io.writeStream(handle, source, options.signal);
        await this.#io.datasync(handle);
      } finally {
        await handle.close();
      }
      await made;
      await this.#io.renameInto(temp, join(dir, 'data'));
    } catch (error) {
      await made.catch(noop);
      await this.#io.unlink(temp).catch(() => false);
      // No empty directory for a blob that was refused (rmdir spares one another writer filled).
      await this.#io.prune(dir, this.#layout.blobsDir);
      throw error;
    }
  }

  /**
   * A file in the private temporary directory (the same filesystem as the blobs) that becomes a
   * blob by rename(2), like {@link put}'s own temporary file: synced, then renamed into place. A
   * crash leaves it to the leftover reaper, like any temporary file.
   */
  async stage(): Promise<StagedBlob> {
    const temp = this.#io.temp('blob');
    const handle = await this.#io.create(temp, 'wx+');
    const discard = async (): Promise<void> => {
      await this.#io.unlink(temp).catch(() => false);
    };
    return {
      handle,
      sync: () => this.#io.datasync(handle),
      commit: async (digest) => {
        const dir = this.#layout.blobDir(digest);
        const made = this.#io.makeDir(dir);
        made.catch(noop);
        try {
          await this.#io.datasync(handle);
          await made;
          await this.#io.renameInto(temp, join(dir, 'data'));
        } catch (error) {
          await made.catch(noop);
          await discard();
          await this.#io.prune(dir, this.#layout.blobsDir);
          throw error;
        }
      },
      discard,
    };
  }

  /**
   * Moves a complete, synced file into place as the blob (the upload store's commit).
   * `onRenamed` runs once the blob is visible (the file is gone from its old place).
   */
  async install(digest: string, file: string, onRenamed?: () => void): Promise<void> {
    await this.#io.renameInto(file, this.#layout.blobData(digest), onRenamed);
  }

  /** Creates a missing blob's directory ahead of {@link install} (while the file is prepared). */
  prepare(digest: string): Promise<void> {
    return this.#io.makeDir(this.#layout.blobDir(digest));
  }

  /** Removes a blob's directory if it is empty (after a failed {@link prepare} or install). */
  async unprepare(digest: string): Promise<void> {
    await this.#io.prune(this.#layout.blobDir(digest), this.#layout.blobsDir);
  }

  /**
   * Whether the blob already exists with `size` bytes; if so its modification time is refreshed
   * (garbage collection's grace period then protects it as a fresh upload) and its entry synced.
   */
  async refresh(digest: string, size: number): Promise<boolean> {
    if ((await this.stat(digest))?.size !== size) return false;
    if (!(await this.touch(digest))) return false;
    await this.#io.syncDir(this.#layout.blobDir(digest));
    return true;
  }

  async delete(digest: string, options: BlobDeleteOptions = {}): Promise<boolean> {
    // Conditional (garbage collection): a push that touched or re-installed the blob since it was
    // selected keeps it; see Io.removeUnlessNewer.
    const removed = await this.#io.removeUnlessNewer(this.#layout.blobData(digest), options.unmodifiedSince);
    if (removed) await this.#io.prune(this.#layout.blobDir(digest), this.#layout.blobsDir);
    return removed;
  }

  async touch(digest: string): Promise<boolean> {
    const path = this.#layout.blobData(digest);
    if (await this.#io.refresh(path)) return true;
    // Missing, or another user's file (a registry sharing the root) that cannot be re-dated.
    return this.#io.exists(path);
  }

  async *list(): AsyncIterable<BlobInfo> {
    const { blobsDir } = this.#layout;
    for (const algorithm of await this.#io.list(blobsDir)) {
      for (const prefix of await this.#io.list(join(blobsDir, algorithm))) {
        for (const hex of await this.#io.list(join(blobsDir, algorithm, prefix))) {
          const digest = `${algorithm}:${hex}`;
          if (!hex.startsWith(prefix) || !tryParseDigest(digest)) continue;
          const info = await this.stat(digest);
          if (info) yield info;
        }
      }
    }
  }
}
