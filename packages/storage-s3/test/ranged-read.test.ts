/**
 * Large blob reads as parallel ranged GETs, on the in-memory object store: the bytes, the bound on
 * GETs in flight and parts held, the consumer stopping early, and failures mid-stream.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BlobStore, ByteWindow } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { MemoryObjectStore, type ObjectStoreHooks } from '../src/objects/memory.js';
import type { ObjectBody } from '../src/objects/types.js';
import { storageOn } from '../src/storage.js';

const PART = 1000;
const IN_FLIGHT = 3;

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function* source(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Counts the GETs whose body is still open (neither read to its end nor destroyed). */
class CountingStore extends MemoryObjectStore {
  open = 0;
  maxOpen = 0;
  /** Body returned by the GET, by call number, cut short to this many bytes. */
  readonly shorten = new Map<number, number>();

  override async get(key: string, range?: ByteWindow): Promise<ObjectBody | null> {
    const call = this.count('get') + 1;
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    let body: ObjectBody | null;
    try {
      body = await super.get(key, range);
    } catch (error) {
      this.open--;
      throw error;
    }
    if (!body) {
      this.open--;
      return null;
    }
    const inner = body;
    let closed = false;
    const close = (): void => {
      if (!closed) this.open--;
      closed = true;
    };
    const limit = this.shorten.get(call);
    return {
      async *[Symbol.asyncIterator]() {
        let sent = 0;
        try {
          for await (const chunk of inner) {
            const piece = limit === undefined ? chunk : chunk.subarray(0, Math.max(0, limit - sent));
            sent += piece.byteLength;
            if (piece.byteLength > 0) yield piece;
          }
        } finally {
          close();
        }
      },
      destroy(error?: Error) {
        close();
        inner.destroy(error);
      },
    };
  }
}

/** Up to `ms` of random delay before every call. */
function latency(ms: number): ObjectStoreHooks {
  return { before: () => new Promise((resolve) => setTimeout(resolve, Math.random() * ms)) };
}

async function setup(
  size: number,
  hooks: ObjectStoreHooks = {},
): Promise<{ store: CountingStore; blobs: BlobStore; bytes: Buffer; digest: string }> {
  let active: ObjectStoreHooks = {};
  const store = new CountingStore({
    hooks: { before: (call) => active.before?.(call), after: (call) => active.after?.(call) },
  });
  const { blobs } = storageOn(store, {
    parallelReadThreshold: 0,
    readPartSize: PART,
    readPartsInFlight: IN_FLIGHT,
  });
  const bytes = randomBytes(size);
  const digest = digestOf(bytes);
  await blobs.put(digest, source(bytes));
  // core stat()s a blob before it opens it, which gives the read its length
  expect(await blobs.stat(digest)).toEqual({ digest, size });
  store.calls.clear();
  active = hooks;
  return { store, blobs, bytes, digest };
}

async function readAll(body: AsyncIterable<Uint8Array>, pause?: () => Promise<void>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) {
    chunks.push(chunk);
    await pause?.();
  }
  return Buffer.concat(chunks);
}

/** Reads until the stream fails; the bytes received and the error. */
async function readUntilError(body: AsyncIterable<Uint8Array>): Promise<{ got: Buffer; error: unknown }> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk);
  } catch (error) {
    return { got: Buffer.concat(chunks), error };
  }
  throw new Error('the stream ended without an error');
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));

describe('parallel ranged reads of large blobs', () => {
  const sizes = [1, PART - 1, PART, PART + 1, 2 * PART - 1, 2 * PART, 2 * PART + 1, 7 * PART + 13];
  it.each(sizes)('reads a %i-byte blob whole, one GET per part', async (size) => {
    const { store, blobs, bytes, digest } = await setup(size, latency(3));
    expect((await readAll((await blobs.open(digest))!)).equals(bytes)).toBe(true);
    expect(store.count('get')).toBe(Math.ceil(size / PART));
    await expect.poll(() => store.open).toBe(0);
  });

  it('maps a client range onto the same parts', async () => {
    const { store, blobs, bytes, digest } = await setup(7 * PART + 13, latency(3));
    const windows = [
      { offset: 0, length: 1 },
      { offset: PART - 1, length: 2 },
      { offset: PART, length: PART },
      { offset: PART + 1, length: 3 * PART },
      { offset: 7 * PART, length: 13 },
      { offset: 3, length: 7 * PART + 10 },
    ];
    for (const range of windows) {
      store.calls.clear();
      const got = await readAll((await blobs.open(digest, { range }))!);
      expect(got.equals(bytes.subarray(range.offset, range.offset + range.length))).toBe(true);
      expect(store.count('get')).toBe(Math.ceil(range.length / PART));
    }
    await expect.poll(() => store.open).toBe(0);
  });

  it('keeps at most the configured parts in flight and in memory, however slow the reader', async () => {
    const parts = 20;
    const { store, blobs, bytes, digest } = await setup(parts * PART, latency(5));
    let consumed = 0;
    let maxAhead = 0;
    const body = (await blobs.open(digest))!;
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) {
      chunks.push(chunk);
      consumed += chunk.byteLength;
      // Parts requested but not yet wholly handed to the reader: what the read holds.
      maxAhead = Math.max(maxAhead, store.count('get') - Math.floor(consumed / PART));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(store.count('get')).toBe(parts);
    expect(store.maxOpen).toBe(IN_FLIGHT);
    expect(maxAhead).toBeLessThanOrEqual(IN_FLIGHT);
  });

  it('stops requesting and releases every GET when the reader stops early', async () => {
    const { store, blobs, digest } = await setup(20 * PART, latency(5));
    const iterator = (await blobs.open(digest))![Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await iterator.return!();
    const requested = store.count('get');
    expect(requested).toBeLessThanOrEqual(IN_FLIGHT + 1);
    await settle();
    expect(store.count('get')).toBe(requested);
    await expect.poll(() => store.open).toBe(0);
  });

  it('releases the GETs of a read that is dropped before its first chunk', async () => {
    const { store, blobs, digest } = await setup(20 * PART, latency(5));
    const iterator = (await blobs.open(digest))![Symbol.asyncIterator]();
    await iterator.return!();
    await settle();
    expect(store.count('get')).toBe(IN_FLIGHT);
    await expect.poll(() => store.open).toBe(0);
  });

  it('aborts the read when the signal aborts', async () => {
    const { store, blobs, digest } = await setup(20 * PART, latency(5));
    const controller = new AbortController();
    const iterator = (await blobs.open(digest, { signal: controller.signal }))![Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    controller.abort(new Error('client went away'));
    await expect(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
    ).rejects.toThrow('client went away');
    const requested = store.count('get');
    await settle();
    expect(store.count('get')).toBe(requested);
    await expect.poll(() => store.open).toBe(0);
  });

  it('ends the stream with an error after the good bytes when a part fails', async () => {
    let gets = 0;
    const { store, blobs, bytes, digest } = await setup(10 * PART, {
      before: (call) => {
        if (call.operation === 'get' && ++gets === 4) throw new Error('connection reset');
      },
    });
    const { got, error } = await readUntilError((await blobs.open(digest))!);
    expect((error as Error).message).toBe('connection reset');
    expect(got.equals(bytes.subarray(0, 3 * PART))).toBe(true);
    await settle();
    expect(store.count('get')).toBeLessThanOrEqual(4 + IN_FLIGHT - 1);
    await expect.poll(() => store.open).toBe(0);
  });

  it('refuses a part that comes back short instead of shifting the bytes after it', async () => {
    const { store, blobs, bytes, digest } = await setup(6 * PART);
    store.shorten.set(2, PART - 10);
    const { got, error } = await readUntilError((await blobs.open(digest))!);
    expect((error as Error).name).toBe('RangedReadError');
    expect(got.equals(bytes.subarray(0, got.byteLength))).toBe(true);
    expect(got.byteLength).toBeLessThan(2 * PART);
    await settle();
    await expect.poll(() => store.open).toBe(0);
  });

  it('answers null for a blob that is gone, and fails when the first GET fails', async () => {
    const { store, blobs, digest } = await setup(5 * PART);
    await store.delete([...store.keys()]);
    expect(await blobs.open(digest)).toBeNull();
    await expect.poll(() => store.open).toBe(0);

    const failing = await setup(5 * PART, {
      before: (call) => {
        if (call.operation === 'get') throw new Error('access denied');
      },
    });
    await expect(failing.blobs.open(failing.digest)).rejects.toThrow('access denied');
    await settle();
    await expect.poll(() => failing.store.open).toBe(0);
  });

  it('reads blobs up to the threshold with one GET', async () => {
    const store = new MemoryObjectStore();
    const { blobs } = storageOn(store, { parallelReadThreshold: 3 * PART, readPartSize: PART });
    for (const size of [3 * PART, 3 * PART + 1]) {
      const bytes = randomBytes(size);
      const digest = digestOf(bytes);
      await blobs.put(digest, source(bytes));
      await blobs.stat(digest);
      store.calls.clear();
      expect((await readAll((await blobs.open(digest))!)).equals(bytes)).toBe(true);
      expect(store.count('get')).toBe(size > 3 * PART ? 4 : 1);
    }
  });
});
