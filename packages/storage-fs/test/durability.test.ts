/**
 * What a 202 and a 201 promise on the filesystem: chunks are flushed before their 202 only with
 * `syncChunks`; a blob always before its 201; unflushed chunks do not outlive a reboot.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistry, isStoreError } from '@wharf/core';
import { createFsStorage, type FsOperations } from '@wharf/storage-fs';
import { randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir, v2 } from './helpers.js';

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describe('durability of chunks and blobs', () => {
  let work: { dir: string; remove: () => Promise<void> };
  beforeEach(async () => {
    work = await tempDir('durability');
  });
  afterEach(async () => {
    await work.remove();
  });

  /** Storage whose file handles count their fdatasync calls. */
  async function counting(syncChunks?: boolean) {
    const synced = { count: 0 };
    const fs: Partial<FsOperations> = {
      async open(path, flags, mode) {
        const handle = await fsp.open(path, flags, mode);
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          synced.count++;
          return datasync();
        };
        return handle;
      },
    };
    const storage = await createFsStorage({
      root: work.dir,
      fs,
      ...(syncChunks === undefined ? {} : { syncChunks }),
    });
    return { storage, synced };
  }

  for (const syncChunks of [false, true]) {
    it(`flushes chunks before their 202 ${syncChunks ? 'with' : 'only with'} syncChunks, and a blob before its 201`, async () => {
      const { storage, synced } = await counting(syncChunks);
      const id = randomUUID();
      await storage.uploads.create({ id, repository: 'team/app', algorithm: 'sha256' });
      const first = randomContent(3 * 1024 * 1024).bytes;
      const second = randomContent(1024 * 1024).bytes;
      synced.count = 0;
      await storage.uploads.append(id, { offset: 0, body: once(first) });
      await storage.uploads.append(id, { offset: first.byteLength, body: once(second) });
      // Let the background merge of the second chunk finish before counting.
      await storage.close();
      const chunkSyncs = synced.count;
      if (syncChunks) expect(chunkSyncs).toBeGreaterThanOrEqual(2);
      else expect(chunkSyncs).toBe(0);
      const all = Buffer.concat([first, second]);
      synced.count = 0;
      await storage.uploads.commit(id, { digest: sha256(all), size: all.byteLength });
      // Flushed chunks (merged into the first one, which becomes the blob) need no more.
      if (!syncChunks) expect(synced.count).toBeGreaterThanOrEqual(1);
      expect((await storage.blobs.stat(sha256(all)))?.size).toBe(all.byteLength);
    });
  }

  it('ends a session with unflushed chunks when the machine rebooted, and collects it', async () => {
    const storage = await createFsStorage({ root: work.dir });
    const id = randomUUID();
    await storage.uploads.create({ id, repository: 'team/app', algorithm: 'sha256' });
    await storage.uploads.append(id, { offset: 0, body: once(randomContent(1000).bytes) });
    // As if written in an earlier boot.
    const info = join(v2(work.dir), '_wharf', 'uploads', id, 'info');
    const record = JSON.parse(await fsp.readFile(info, 'utf8')) as Record<string, unknown>;
    expect(typeof record.boot).toBe('string');
    await fsp.writeFile(info, JSON.stringify({ ...record, boot: 'an-earlier-boot' }));
    const fresh = await createFsStorage({ root: work.dir });
    expect(await fresh.uploads.get(id)).toBeNull();
    const refused = await fresh.uploads.append(id, { offset: 1000, body: once(Buffer.from('x')) }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isStoreError(refused, 'upload-not-found')).toBe(true);
    const report = await createRegistry({ storage: fresh }).gc({ uploadMaxAge: 0 });
    expect(report.deleted.leftovers.map((l) => l.description)).toContain(`_wharf/uploads/${id}`);
    expect(await fsp.readdir(join(v2(work.dir), '_wharf', 'uploads'))).toEqual([]);
    await fresh.close();
    await storage.close();
  });
});
