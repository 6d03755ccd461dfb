/**
 * Garbage collection's reaping of incomplete multipart uploads, on the in-memory object store
 * (crash.test.ts does it with killed processes on a real S3 server).
 */
import { createRegistry } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { MemoryObjectStore } from '../src/objects/memory.js';
import { storageOn } from '../src/storage.js';
import { listAllMultipart } from '../src/writer.js';
import { TEST_CACHE } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('reaping incomplete multipart uploads', () => {
  it('aborts those older than the grace period that no live session owns', async () => {
    const store = new MemoryObjectStore();
    const storage = storageOn(store, { prefix: 'p', cache: TEST_CACHE });
    const root = 'p/docker/registry/v2/';
    const live = '11111111-1111-4111-8111-111111111111';
    await storage.uploads.create({ id: live, repository: 'team/app', algorithm: 'sha256' });
    const started = async (key: string) => ({ key, uploadId: await store.createMultipart(key) });
    const old = [
      await started(`${root}blobs/sha256/ab/${'ab'.repeat(32)}/data`),
      await started(`${root}_wharf/uploads/22222222-2222-4222-8222-222222222222/s/0000-x`),
    ];
    const kept = [
      await started(`${root}_wharf/uploads/${live}/s/0000-y`),
      await started(`${root}repositories/team/app/_uploads/u/data`),
      await started('elsewhere/blobs/data'),
    ];
    await sleep(1200);
    const young = await started(`${root}blobs/sha256/cd/${'cd'.repeat(32)}/data`);
    const registry = createRegistry({ storage });

    const dry = await registry.gc({ gracePeriod: 1000, dryRun: true });
    expect(dry.deleted.leftovers).toHaveLength(2);
    expect(await listAllMultipart(store, '')).toHaveLength(6);

    const report = await registry.gc({ gracePeriod: 1000 });
    expect(report.deleted.leftovers.map((l) => l.description).sort()).toEqual(
      old.map((u) => `incomplete multipart upload of ${u.key}`).sort(),
    );
    expect((await listAllMultipart(store, '')).map((u) => u.key).sort()).toEqual(
      [...kept, young].map((u) => u.key).sort(),
    );
    await storage.close();
  });
});
