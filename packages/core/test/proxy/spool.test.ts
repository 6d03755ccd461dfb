import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../../src/proxy/spool.js';
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
});
