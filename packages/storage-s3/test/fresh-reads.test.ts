/**
 * Shared tag reads: concurrent GETs of one tag share bucket requests, and no caller ever gets an
 * answer read before it asked (docs/architecture.md, "S3 read path").
 */
import { createRegistry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { FreshReads } from '../src/cache/fresh-reads.js';
import { MemoryObjectStore, type ObjectCall } from '../src/objects/memory.js';
import { storageOn } from '../src/storage.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

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

describe('GET of a manifest by tag on S3', () => {
  /** Two replicas on one bucket; the next tag read can be held after it took effect. */
  function setup() {
    let hold: Promise<void> | undefined;
    const tagHeads: ObjectCall[] = [];
    const store = new MemoryObjectStore({
      hooks: {
        async after(call) {
          if (call.operation === 'head' && call.key.includes('/_manifests/tags/')) {
            tagHeads.push(call);
            const held = hold;
            hold = undefined;
            if (held) await held;
          }
        },
      },
    });
    const open = () => {
      const registry = createRegistry({ storage: storageOn(store, { prefix: 'r' }) });
      return new OciClient('http://registry.local', (input, init) =>
        registry.fetch(new Request(input, init)),
      );
    };
    return {
      a: open(),
      b: open(),
      tagHeads,
      /** Holds the next tag read's answer until the returned function is called. */
      holdNextTagRead() {
        const gate = deferred();
        hold = gate.promise;
        return () => gate.resolve();
      },
    };
  }

  const digestOf = async (client: OciClient) => {
    const res = await client.request('HEAD', '/v2/team/app/manifests/v1');
    expect(res.status).toBe(200);
    return res.headers.get('docker-content-digest');
  };

  it('shares the bucket requests of concurrent readers', async () => {
    const { a, tagHeads, holdNextTagRead } = setup();
    const image = makeImage({ layers: [100] });
    await a.pushImage('team/app', 'v1', image);
    expect(await digestOf(a)).toBe(image.manifest.digest);
    tagHeads.length = 0;
    const release = holdNextTagRead();
    const first = digestOf(a);
    while (tagHeads.length === 0) await tick();
    const rest = Array.from({ length: 31 }, () => digestOf(a));
    await tick();
    release();
    expect(await Promise.all([first, ...rest])).toEqual(Array(32).fill(image.manifest.digest));
    // One read for the first caller, one shared by the 31 who came while it was in flight.
    expect(tagHeads.length).toBe(2);
  });

  it('never answers a caller with a read that began before it asked', async () => {
    const { a, b, tagHeads, holdNextTagRead } = setup();
    const [one, two] = [makeImage({ layers: [100] }), makeImage({ layers: [200] })];
    await a.pushImage('team/app', 'v1', one);
    tagHeads.length = 0;
    const release = holdNextTagRead();
    // A's read of the tag has taken effect (it saw `one`) but not yet answered...
    const before = digestOf(a);
    while (tagHeads.length === 0) await tick();
    // ...when another replica moves the tag, and only then does a second client ask A.
    await b.pushImage('team/app', 'v1', two);
    const after = digestOf(a);
    await tick();
    release();
    expect(await before).toBe(one.manifest.digest);
    expect(await after).toBe(two.manifest.digest);
  });
});
