/**
 * FreshReads: concurrent callers share reads, and no caller ever gets an answer read before it
 * asked (docs/architecture.md, "S3 read path"; the S3 store's tag reads and the fs event log use it).
 */
import { FreshReads } from '@wharf/core';
import { deferred, tick } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';

describe('FreshReads', () => {
  it('gives callers who arrive during a read the next read, started after it, shared', async () => {
    const reads = new FreshReads<number>();
    let value = 1;
    const gates: ReturnType<typeof deferred<void>>[] = [];
    let loads = 0;
    const load = async () => {
      loads++;
      const seen = value;
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      return seen;
    };
    const first = reads.read('k', load);
    expect(loads).toBe(1);
    // A write completes while the first read (which saw the old value) is in flight.
    value = 2;
    const later = Array.from({ length: 10 }, () => reads.read('k', load));
    expect(loads).toBe(1);
    gates[0]!.resolve();
    expect(await first).toBe(1);
    await tick();
    expect(loads).toBe(2);
    gates[1]!.resolve();
    expect(await Promise.all(later)).toEqual(Array(10).fill(2));
    expect(reads.size).toBe(0);
    // Sequential callers each read.
    const alone = reads.read('k', async () => 3);
    expect(await alone).toBe(3);
    expect(await reads.read('k', async () => 4)).toBe(4);
  });

  it('hands a failed read to those who shared it, and forgets it', async () => {
    const reads = new FreshReads<number>();
    const gate = deferred<number>();
    const first = reads.read('k', () => gate.promise);
    const failing = deferred<number>();
    const second = Promise.all([
      reads.read('k', () => failing.promise),
      reads.read('k', () => failing.promise),
    ]);
    gate.reject(new Error('first failed'));
    await expect(first).rejects.toThrow('first failed');
    await tick();
    failing.reject(new Error('second failed'));
    await expect(second).rejects.toThrow('second failed');
    expect(reads.size).toBe(0);
    // A load that throws synchronously is a failed read too.
    await expect(
      reads.read('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(reads.size).toBe(0);
  });

  it('keeps keys apart', async () => {
    const reads = new FreshReads<string>();
    const a = deferred<string>();
    const pa = reads.read('a', () => a.promise);
    expect(await reads.read('b', async () => 'b')).toBe('b');
    a.resolve('a');
    expect(await pa).toBe('a');
  });
});
