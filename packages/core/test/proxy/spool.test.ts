import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Deferred, deferred } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../../src/proxy/spool.js';
import type { StagedBlob } from '../../src/stores/types.js';
import { collectBytes } from '../../src/util/bytes.js';

const MiB = 1024 * 1024;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fill(spool: Spool, data: Buffer, chunk = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunk) {
    await spool.write(data.subarray(offset, offset + chunk));
  }
}

/**
 * A staged blob over a plain file, counting its syncs; `failSync` makes them fail. `idle()`
 * resolves once no sync is running; `hold()` keeps the next syncs running until `release()`.
 */
async function stagedFile(path: string, failSync = false) {
  const handle = await open(path, 'wx+');
  let running: Promise<void> | undefined;
  let gate: Deferred<void> | undefined;
  const staged = {
    handle,
    syncs: 0,
    async sync() {
      staged.syncs++;
      if (failSync) throw new Error('EIO');
      const held = gate?.promise;
      running = (async () => {
        await held;
        await handle.datasync();
      })();
      await running;
    },
    commit: async () => {},
    discard: async () => {},
    idle: async () => {
      await running;
    },
    hold() {
      gate = deferred();
    },
    release() {
      gate?.resolve();
      gate = undefined;
    },
  } satisfies StagedBlob & Record<string, unknown>;
  return staged;
}

describe('the download spool', () => {
  it('serves readers that join late, from any offset, out of the file once memory moved on', async () => {
    const data = randomBytes(20 * MiB);
    const spool = await Spool.create(dir, data.byteLength);
    const early = collectBytes(spool.read());
    await fill(spool, data.subarray(0, 15 * MiB));
    // This reader starts at 0 after the newest 8 MiB kept in memory left it behind.
    const late = collectBytes(spool.read());
    const window = collectBytes(spool.read({ offset: 5 * MiB, length: 12 * MiB }));
    await fill(spool, data.subarray(15 * MiB));
    await spool.finish();
    spool.release();
    expect((await early).equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
    expect((await window).equals(data.subarray(5 * MiB, 17 * MiB))).toBe(true);
    // Nothing is left behind in the spool directory.
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps a small download in memory only', async () => {
    const data = randomBytes(3 * MiB);
    const spool = await Spool.create(dir, data.byteLength);
    await fill(spool, data);
    expect(await readdir(dir)).toEqual([]);
    const late = collectBytes(spool.read());
    await spool.finish();
    spool.release();
    expect((await late).equals(data)).toBe(true);
  });

  it('holds back the last byte until the download is verified, and fails every reader otherwise', async () => {
    for (const verdict of ['finish', 'fail'] as const) {
      const spool = await Spool.create(dir);
      const seen: number[] = [];
      const reading = (async () => {
        let size = 0;
        for await (const chunk of spool.read({ holdBack: true })) {
          size += chunk.byteLength;
          seen.push(size);
        }
        return size;
      })();
      await spool.write(Buffer.alloc(1000, 1));
      await expect.poll(() => seen.at(-1)).toBe(999);
      // The last byte stays back while the download is unverified.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen.at(-1)).toBe(999);
      if (verdict === 'finish') {
        await spool.finish();
        expect(await reading).toBe(1000);
      } else {
        spool.fail(new Error('wrong digest'));
        await expect(reading).rejects.toThrow('wrong digest');
      }
      spool.release();
    }
  });

  it('writes a staged blob in place, syncing it as it grows, and serves late readers from it', async () => {
    const data = randomBytes(40 * MiB);
    const path = join(dir, 'staged');
    const staged = await stagedFile(path);
    const spool = Spool.over(staged);
    const early = collectBytes(spool.read({ holdBack: true }));
    await fill(spool, data.subarray(0, 20 * MiB));
    // Paced: the first sync ends before the next 16 MiB are on file (one in flight holds the next
    // back, below), so the count does not depend on how fast the disk is.
    await expect.poll(() => staged.syncs).toBe(1);
    await staged.idle();
    await fill(spool, data.subarray(20 * MiB, 30 * MiB));
    const late = collectBytes(spool.read());
    await fill(spool, data.subarray(30 * MiB));
    await spool.finish();
    await spool.synced();
    expect((await readFile(path)).equals(data)).toBe(true);
    // In the background every 16 MiB: twice for 40 MiB (the commit syncs the rest).
    expect(staged.syncs).toBe(2);
    spool.release();
    expect((await early).equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
    // The spool closed the staged file once everyone was done.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(staged.handle.stat()).rejects.toThrow();
  });

  it('starts no background sync while one is still running, and catches up once it ends', async () => {
    const data = randomBytes(56 * MiB);
    const path = join(dir, 'staged');
    const staged = await stagedFile(path);
    const spool = Spool.over(staged);
    staged.hold();
    await fill(spool, data.subarray(0, 40 * MiB));
    await expect.poll(async () => (await staged.handle.stat()).size).toBe(40 * MiB);
    expect(staged.syncs).toBe(1);
    // 24 MiB more are on file than the held sync covers, yet no second sync started.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(staged.syncs).toBe(1);
    staged.release();
    await staged.idle();
    // The next flush after the held sync ended starts one for all that was written meanwhile.
    await fill(spool, data.subarray(40 * MiB));
    await spool.finish();
    await spool.synced();
    expect(staged.syncs).toBe(2);
    expect((await readFile(path)).equals(data)).toBe(true);
    spool.release();
  });

  it('reports a failed background sync, so that the file never becomes a blob', async () => {
    const staged = await stagedFile(join(dir, 'staged'), true);
    const spool = Spool.over(staged);
    await fill(spool, randomBytes(20 * MiB));
    await spool.finish();
    await expect(spool.synced()).rejects.toThrow('EIO');
    spool.release();
  });

  it('fails the writer when the file cannot be written', async () => {
    const staged = await stagedFile(join(dir, 'staged'));
    const spool = Spool.over(staged);
    const reading = collectBytes(spool.read({ holdBack: true }));
    await staged.handle.close();
    await expect(
      (async () => {
        await fill(spool, randomBytes(4 * MiB));
        await spool.finish();
      })(),
    ).rejects.toThrow();
    spool.fail(new Error('write failed'));
    await expect(reading).rejects.toThrow('write failed');
    spool.release();
  });

  it('lets the download run a few MiB ahead of a slow disk before it waits, then catches up', async () => {
    const path = join(dir, 'staged');
    const staged = await stagedFile(path);
    const writev = staged.handle.writev.bind(staged.handle);
    let writes = 0;
    staged.handle.writev = (async (...args: Parameters<typeof writev>) => {
      writes++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return writev(...args);
    }) as typeof writev;
    const spool = Spool.over(staged);
    const data = randomBytes(12 * MiB);
    const chunk = 64 * 1024;
    let firstWait: number | undefined;
    for (let offset = 0; offset < data.byteLength; offset += chunk) {
      const wait = spool.write(data.subarray(offset, offset + chunk));
      if (wait) {
        firstWait ??= offset + chunk;
        await wait;
      }
    }
    // One 1 MiB write in flight, then up to 4 MiB more gathered before the writer waits.
    expect(firstWait).toBe(5 * MiB);
    await spool.finish();
    expect((await readFile(path)).equals(data)).toBe(true);
    // Batches gathered while the disk was busy went out in single writes.
    expect(writes).toBeLessThan(8);
    spool.release();
  });
});
