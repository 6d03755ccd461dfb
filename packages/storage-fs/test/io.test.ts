import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { createFsStorage, type FsOperations, type FsStorage } from '@wharf/storage-fs';
import { deferred, randomContent, sha256, tick } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Io } from '../src/io.js';
import { listFiles, tempDir, v2 } from './helpers.js';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds (file-system calls complete on other threads). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await pause(2);
  expect(condition()).toBe(true);
}

describe('file-system primitives (fs)', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let storage: FsStorage | undefined;

  beforeEach(async () => {
    work = await tempDir('io');
  });

  afterEach(async () => {
    await storage?.close();
    storage = undefined;
    await work.remove();
  });

  it('never lets a directory sync that began before a call stand in for it, and shares the next one', async () => {
    const gates: Array<{ promise: Promise<void>; resolve: () => void }> = [];
    const fs = {
      async open(path: Parameters<typeof fsp.open>[0], flags?: Parameters<typeof fsp.open>[1]) {
        const handle = await fsp.open(path, flags);
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          const gate = deferred();
          gates.push(gate);
          await gate.promise;
          await sync();
        };
        return handle;
      },
    } as unknown as FsOperations;
    const io = new Io({ ...fsp, ...fs }, true, (prefix) => join(work.dir, prefix));
    const settledCalls: string[] = [];
    const track = (name: string, p: Promise<void>): Promise<void> =>
      p.then(() => {
        settledCalls.push(name);
      });

    const a = track('a', io.syncDir(work.dir));
    await until(() => gates.length === 1);
    // Entries created now may be missed by the running sync: b and c wait for a later one.
    const b = track('b', io.syncDir(work.dir));
    const c = track('c', io.syncDir(work.dir));
    await pause(20);
    expect(gates).toHaveLength(1);
    gates[0]!.resolve();
    await a;
    await until(() => gates.length === 2);
    expect(settledCalls).toEqual(['a']);
    const d = track('d', io.syncDir(work.dir));
    gates[1]!.resolve();
    await Promise.all([b, c]);
    expect(settledCalls.sort()).toEqual(['a', 'b', 'c']);
    await until(() => gates.length === 3);
    gates[2]!.resolve();
    await d;
    // Four callers, three syncs, each caller served by one that began after its call.
    expect(gates).toHaveLength(3);
  });

  it('fails a large write whose background fdatasync failed, even if a later one would succeed', async () => {
    let streamed = false;
    let failedWhileStreaming: boolean | undefined;
    const fs: Partial<FsOperations> = {
      async open(path, flags, mode) {
        const handle = await fsp.open(path, flags, mode);
        if (String(path).includes(`${join('_wharf', 'tmp')}/blob-`)) {
          const datasync = handle.datasync.bind(handle);
          let calls = 0;
          // Linux reports a writeback error to one fsync only: the next may well succeed.
          handle.datasync = async () => {
            calls++;
            if (calls === 1) {
              failedWhileStreaming = !streamed;
              throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
            }
            return datasync();
          };
        }
        return handle;
      },
    };
    storage = await createFsStorage({ root: work.dir, fs });
    const blob = randomContent(48 * 1024 * 1024);
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < blob.bytes.byteLength; offset += 1024 * 1024) {
        yield blob.bytes.subarray(offset, offset + 1024 * 1024);
        // Let the background sync start before the end of the body.
        await tick();
      }
      streamed = true;
    }
    await expect(storage.blobs.put(blob.digest, body())).rejects.toMatchObject({ code: 'EIO' });
    expect(failedWhileStreaming).toBe(true);
    expect(await storage.blobs.stat(blob.digest)).toBeNull();
    expect(await listFiles(join(v2(work.dir), '_wharf'))).toEqual([]);
  });

  it('leaves no directory behind for a blob it refused', async () => {
    storage = await createFsStorage({ root: work.dir });
    const blob = randomContent(10_000);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield blob.bytes;
      throw new Error('digest mismatch');
    }
    await expect(storage.blobs.put(blob.digest, failing())).rejects.toThrow('digest mismatch');
    const hex = blob.digest.slice('sha256:'.length);
    await expect(fsp.stat(join(v2(work.dir), 'blobs', 'sha256', hex.slice(0, 2)))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // And a blob it stored is complete where distribution expects it.
    async function* whole(): AsyncGenerator<Uint8Array> {
      yield blob.bytes;
    }
    await storage.blobs.put(blob.digest, whole());
    const data = await fsp.readFile(join(v2(work.dir), 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
    expect(sha256(data)).toBe(blob.digest);
  });
});
