import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { createFsStorage, type FsOperations, type FsStorage } from '@wharf/storage-fs';
import { afterEach, describe, expect, it } from 'vitest';
import { listFiles, tempDir, v2 } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | null): string | null => (value ? new TextDecoder().decode(value) : null);

async function root(): Promise<string> {
  const { dir, remove } = await tempDir('event-log');
  cleanups.push(remove);
  return dir;
}

async function open(dir: string, fs?: Partial<FsOperations>): Promise<FsStorage> {
  const storage = await createFsStorage({ root: dir, ...(fs ? { fs } : {}) });
  cleanups.push(() => storage.close());
  return storage;
}

/** The log's files, relative to its folder. */
async function logFiles(dir: string): Promise<string[]> {
  return listFiles(join(v2(dir), '_wharf', 'events-log'));
}

/**
 * Records queue/0001 and queue/0002 in a segment of a closed instance, renamed as if written two
 * minutes ago: past its end of life and the margin for appends still on their way. Its name.
 */
async function oldSegment(dir: string): Promise<string> {
  const a = await open(dir);
  await a.events.put('queue/0001', bytes('one'), { unique: true });
  await a.events.put('queue/0002', bytes('two'), { unique: true });
  await a.close();
  const logDir = join(v2(dir), '_wharf', 'events-log');
  const [segment] = await fsp.readdir(logDir);
  const old = `${String(Date.now() - 120_000).padStart(13, '0')}-0123456789`;
  await fsp.rename(join(logDir, segment!), join(logDir, `${old}.log`));
  return old;
}

/** Counts fdatasync calls on the log's segments; `failWrite` makes the next segment write fail after writing. */
function countingFs(): { fs: Partial<FsOperations>; datasyncs: () => number; failNextWrite: () => void } {
  let datasyncs = 0;
  let failing = false;
  return {
    datasyncs: () => datasyncs,
    failNextWrite: () => {
      failing = true;
    },
    fs: {
      async open(path, flags, mode) {
        const handle = await fsp.open(path, flags, mode);
        if (!String(path).endsWith('.log')) return handle;
        const writev = handle.writev.bind(handle);
        const datasync = handle.datasync.bind(handle);
        handle.writev = (async (...args: Parameters<typeof writev>) => {
          const result = await writev(...args);
          if (failing) {
            failing = false;
            throw Object.assign(new Error('EIO: injected fault'), { code: 'EIO' });
          }
          return result;
        }) as typeof handle.writev;
        handle.datasync = () => {
          datasyncs++;
          return datasync();
        };
        return handle;
      },
    },
  };
}

describe('the fs event log (records written with unique)', () => {
  it('keeps them out of the record files, and another instance on the root lists, reads and deletes them', async () => {
    const dir = await root();
    const a = await open(dir);
    const b = await open(dir);
    expect(await a.events.put('queue/0002', bytes('two'), { unique: true })).toBe(true);
    expect(await a.events.put('queue/0003', bytes('three'), { unique: true })).toBe(true);
    expect(await a.events.put('queue/0001', bytes('one'))).toBe(true);
    expect(await listFiles(join(v2(dir), '_wharf', 'events'))).toEqual(['queue/0001']);
    expect((await logFiles(dir)).filter((f) => f.endsWith('.log'))).toHaveLength(1);

    expect(await b.events.list('queue')).toEqual(['0001', '0002', '0003']);
    expect(await b.events.list('queue', { after: '0001', limit: 1 })).toEqual(['0002']);
    expect(text(await b.events.get('queue/0003'))).toBe('three');
    await b.events.delete(['queue/0002', 'queue/0001', 'queue/never']);
    expect(await a.events.get('queue/0002')).toBeNull();
    expect(await a.events.list('queue')).toEqual(['0003']);
    expect(text(await a.events.get('queue/0003'))).toBe('three');
    expect(await listFiles(join(v2(dir), '_wharf', 'events'))).toEqual([]);
  });

  it('reads a segment up to its last complete frame, and the rest once it is complete', async () => {
    const dir = await root();
    const a = await open(dir);
    await a.events.put('queue/0001', bytes('one'), { unique: true });
    await a.events.put('queue/0002', bytes('two'), { unique: true });
    const [segment] = (await logFiles(dir)).filter((f) => f.endsWith('.log'));
    const path = join(v2(dir), '_wharf', 'events-log', segment!);
    const whole = await fsp.readFile(path);
    // As a reader finds it while the second append is being written (or after a crash during it).
    await fsp.truncate(path, whole.byteLength - 2);
    const b = await open(dir);
    expect(await b.events.list('queue')).toEqual(['0001']);
    expect(await b.events.get('queue/0002')).toBeNull();
    // Its full length, but not yet the bytes written (a frame's checksum tells).
    const garbled = Buffer.from(whole);
    garbled[garbled.byteLength - 1] = (garbled[garbled.byteLength - 1] ?? 0) ^ 0xff;
    await fsp.writeFile(path, garbled);
    expect(await b.events.list('queue')).toEqual(['0001']);
    await fsp.writeFile(path, whole);
    expect(await b.events.list('queue')).toEqual(['0001', '0002']);
    expect(text(await b.events.get('queue/0002'))).toBe('two');
  });

  it('flushes concurrent appends together, and not at all when they need not be durable', async () => {
    const dir = await root();
    const counting = countingFs();
    const a = await open(dir, counting.fs);
    await a.events.put('queue/first', bytes('x'), { unique: true });
    const before = counting.datasyncs();
    expect(before).toBe(1);
    const keys = Array.from({ length: 8 }, (_, i) => `queue/k${i}`);
    await Promise.all(keys.map((key) => a.events.put(key, bytes(key), { unique: true })));
    // The first append of the burst is written alone, the other seven together.
    expect(counting.datasyncs() - before).toBeLessThanOrEqual(2);
    await a.events.put('queue/quick', bytes('q'), { unique: true, durable: false });
    expect(counting.datasyncs() - before).toBeLessThanOrEqual(2);
    expect(await (await open(dir)).events.list('queue')).toHaveLength(10);
  });

  it('appends to a fresh segment after a failed write, whose record is not acknowledged', async () => {
    const dir = await root();
    const counting = countingFs();
    const a = await open(dir, counting.fs);
    await a.events.put('queue/0001', bytes('one'), { unique: true });
    counting.failNextWrite();
    await expect(a.events.put('queue/0002', bytes('two'), { unique: true })).rejects.toThrow(/EIO/);
    await a.events.put('queue/0003', bytes('three'), { unique: true });
    expect((await logFiles(dir)).filter((f) => f.endsWith('.log'))).toHaveLength(2);
    const b = await open(dir);
    // The failed record reached the disk here; at-least-once delivery tolerates it showing up.
    expect(await b.events.list('queue')).toEqual(expect.arrayContaining(['0001', '0003']));
    expect(text(await b.events.get('queue/0003'))).toBe('three');
  });

  it('removes a segment once every record in it is deleted and it stopped growing long ago', async () => {
    const dir = await root();
    const old = await oldSegment(dir);

    const b = await open(dir);
    await b.events.put('queue/0003', bytes('three'), { unique: true });
    await b.events.delete(['queue/0001']);
    expect(await b.events.list('queue')).toEqual(['0002', '0003']);
    expect(await logFiles(dir)).toContain(`${old}.log`);
    await b.events.delete(['queue/0002', 'queue/0003']);
    expect(await b.events.list('queue')).toEqual([]);
    const left = await logFiles(dir);
    expect(left).not.toContain(`${old}.log`);
    expect(left).not.toContain(`${old}.del`);
    // The young segment stays, though empty: its writer may still append to it.
    expect(left.filter((f) => f.endsWith('.log'))).toHaveLength(1);
    await b.events.put('queue/0004', bytes('four'), { unique: true });
    expect(text(await (await open(dir)).events.get('queue/0004'))).toBe('four');
  });
  it('stops reading a segment no append can reach any more, and its tombstones once it has no live record', async () => {
    const dir = await root();
    const logDir = join(v2(dir), '_wharf', 'events-log');
    const old = await oldSegment(dir);
    // Stays open: its segment is young, and it appends to it again below.
    const c = await open(dir);
    await c.events.put('queue/0003', bytes('three'), { unique: true });

    const reads = new Map<string, number>();
    const b = await open(dir, {
      async open(path, flags, mode) {
        const name = String(path).slice(logDir.length + 1);
        if (String(path).startsWith(logDir) && flags === 'r') reads.set(name, (reads.get(name) ?? 0) + 1);
        return fsp.open(path, flags, mode);
      },
    });
    const young = (await fsp.readdir(logDir)).find((f) => f.endsWith('.log') && !f.startsWith(old))!;
    const base = young.slice(0, -'.log'.length);
    expect(await b.events.list('queue')).toEqual(['0001', '0002', '0003']);
    for (let i = 0; i < 3; i++) expect(await b.events.list('queue')).toEqual(['0001', '0002', '0003']);
    expect(reads.get(`${old}.log`)).toBe(1);
    // A young segment of another process may still grow: each refresh looks.
    expect(reads.get(`${base}.log`)).toBe(4);

    await c.events.delete(['queue/0003']);
    expect(await b.events.list('queue')).toEqual(['0001', '0002']);
    expect(reads.get(`${base}.del`)).toBe(1);
    for (let i = 0; i < 3; i++) expect(await b.events.list('queue')).toEqual(['0001', '0002']);
    expect(reads.get(`${base}.del`)).toBe(1);
    // Records appended to the segment later are read with the tombstones written meanwhile:
    // 0004 was deleted before b looks again, and only its tombstone tells b so.
    await c.events.put('queue/0004', bytes('four'), { unique: true });
    await c.events.delete(['queue/0004']);
    await c.events.put('queue/0005', bytes('five'), { unique: true });
    expect(await b.events.list('queue')).toEqual(['0001', '0002', '0005']);
    expect(reads.get(`${base}.del`)).toBe(2);
    expect(text(await b.events.get('queue/0001'))).toBe('one');
    await b.events.delete(['queue/0001']);
    expect(await (await open(dir)).events.list('queue')).toEqual(['0002', '0005']);
    expect(await b.events.list('queue')).toEqual(['0002', '0005']);
  });
});
