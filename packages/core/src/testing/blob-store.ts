import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../stores/types.js';
import { content, failingStream, read, type StoreHarness, streamOf } from './harness.js';

/** A blob's age as `list()` reports it (which garbage collection relies on). */
async function listedAge(blobs: BlobStore, digest: string): Promise<Date> {
  for await (const info of blobs.list()) {
    if (info.digest === digest) {
      expect(info.modifiedAt, 'list() must report modifiedAt').toBeInstanceOf(Date);
      return info.modifiedAt!;
    }
  }
  throw new Error(`${digest} is not listed`);
}

/** BlobStore contract tests. `use` runs a test body on a fresh harness and cleans up. */
export function blobStoreTests(use: (body: (h: StoreHarness) => Promise<void>) => () => Promise<void>): void {
  describe('BlobStore', () => {
    it(
      'stores a streamed blob and serves it whole and by byte window',
      use(async ({ storage: { blobs } }) => {
        const { bytes, digest } = content(300_000);
        await blobs.put(digest, streamOf(bytes, 7_777), { size: bytes.byteLength });
        const info = await blobs.stat(digest);
        expect(info?.size).toBe(bytes.byteLength);
        expect(info?.digest).toBe(digest);
        if (info?.modifiedAt !== undefined) expect(info.modifiedAt).toBeInstanceOf(Date);
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
        for (const [offset, length] of [
          [0, 1],
          [0, 100],
          [123_456, 65_536],
          [bytes.byteLength - 1, 1],
          [1, bytes.byteLength - 1],
        ] as const) {
          const window = await read(await blobs.open(digest, { range: { offset, length } }));
          expect(window?.equals(bytes.subarray(offset, offset + length))).toBe(true);
        }
      }),
    );

    it(
      'stores an empty blob',
      use(async ({ storage: { blobs } }) => {
        const { bytes, digest } = content(0);
        await blobs.put(digest, streamOf(bytes));
        expect((await blobs.stat(digest))?.size).toBe(0);
        expect((await read(await blobs.open(digest)))?.byteLength).toBe(0);
      }),
    );

    it(
      'answers null for a blob it does not have',
      use(async ({ storage: { blobs } }) => {
        const { digest } = content(10);
        expect(await blobs.stat(digest)).toBeNull();
        expect(await blobs.open(digest)).toBeNull();
        expect(await blobs.delete(digest)).toBe(false);
      }),
    );

    it(
      'keeps nothing when the source fails midway or at its very end',
      use(async (h) => {
        const { blobs } = h.storage;
        const before = (await h.inspect?.()) ?? [];
        for (const after of [100_000, 200_000]) {
          const { bytes, digest } = content(200_000);
          const error = new Error('digest mismatch');
          await expect(blobs.put(digest, failingStream(bytes, error, after))).rejects.toBe(error);
          expect(await blobs.stat(digest)).toBeNull();
          expect(await blobs.open(digest)).toBeNull();
        }
        if (h.inspect) expect(await h.inspect()).toEqual(before);
      }),
    );

    it(
      'keeps nothing when the signal aborts',
      use(async (h) => {
        const { blobs } = h.storage;
        const before = (await h.inspect?.()) ?? [];
        const { bytes, digest } = content(500_000);
        const controller = new AbortController();
        async function* slow(): AsyncGenerator<Uint8Array> {
          yield bytes.subarray(0, 1000);
          controller.abort(new Error('client went away'));
          await new Promise((resolve) => setTimeout(resolve, 10));
          yield bytes.subarray(1000);
        }
        await expect(blobs.put(digest, slow(), { signal: controller.signal })).rejects.toThrow();
        expect(await blobs.stat(digest)).toBeNull();
        if (h.inspect) expect(await h.inspect()).toEqual(before);
      }),
    );

    it(
      'accepts the same digest again and concurrently, never exposing a partial blob',
      use(async ({ storage: { blobs } }) => {
        const { bytes, digest } = content(1_000_000);
        await blobs.put(digest, streamOf(bytes));
        let watching = true;
        const sizes: number[] = [];
        const watcher = (async () => {
          while (watching) {
            const info = await blobs.stat(digest);
            sizes.push(info ? info.size : -1);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        await Promise.all(Array.from({ length: 6 }, () => blobs.put(digest, streamOf(bytes, 50_000))));
        watching = false;
        await watcher;
        expect(sizes.every((size) => size === bytes.byteLength)).toBe(true);
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
      }),
    );

    it(
      'lets a reader stop early',
      use(async ({ storage: { blobs } }) => {
        const { bytes, digest } = content(2_000_000);
        await blobs.put(digest, streamOf(bytes));
        const stream = await blobs.open(digest);
        for await (const chunk of stream!) {
          expect(chunk.byteLength).toBeGreaterThan(0);
          break;
        }
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
      }),
    );

    it(
      'deletes only a blob not modified since a date, when asked to',
      use(async ({ storage: { blobs } }) => {
        const { bytes, digest } = content(100);
        await blobs.put(digest, streamOf(bytes));
        const written = await listedAge(blobs, digest);
        expect(await blobs.delete(digest, { unmodifiedSince: new Date(written.getTime() - 60_000) })).toBe(
          false,
        );
        expect((await blobs.stat(digest))?.size).toBe(100);
        expect(await blobs.delete(digest, { unmodifiedSince: new Date(Date.now() + 60_000) })).toBe(true);
        expect(await blobs.stat(digest)).toBeNull();
      }),
    );

    it('touches a blob so that it counts as just modified (optional)', (context) =>
      use(async ({ storage: { blobs } }) => {
        // Reported as skipped, not passed, for a store without the optional method.
        if (!blobs.touch) return context.skip('the store has no touch()');
        const { bytes, digest } = content(100);
        expect(await blobs.touch(digest)).toBe(false);
        expect(await blobs.stat(digest)).toBeNull();
        await blobs.put(digest, streamOf(bytes));
        const before = await listedAge(blobs, digest);
        // Object stores keep modification times to the second.
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const touchedAt = new Date();
        expect(await blobs.touch(digest)).toBe(true);
        expect((await blobs.stat(digest))?.size).toBe(100);
        const after = await listedAge(blobs, digest);
        expect(after.getTime()).toBeGreaterThan(before.getTime());
        // Writing the same content again refreshes the age as well.
        await new Promise((resolve) => setTimeout(resolve, 1100));
        await blobs.put(digest, streamOf(bytes));
        expect((await listedAge(blobs, digest)).getTime()).toBeGreaterThan(after.getTime());
        // A garbage collector that selected the blob before the touch must not delete it.
        expect(await blobs.delete(digest, { unmodifiedSince: new Date(touchedAt.getTime() - 1000) })).toBe(
          false,
        );
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
      })());

    it('stages a blob that appears only when committed, and leaves nothing when discarded (optional)', (context) =>
      use(async (h) => {
        const { blobs } = h.storage;
        if (!blobs.stage) return context.skip('the store has no stage()');
        const before = (await h.inspect?.()) ?? [];
        const { bytes, digest } = content(300_000);
        const staged = await blobs.stage();
        await staged.handle.write(bytes, 0, 100_000, 0);
        await staged.sync();
        await staged.handle.write(bytes, 100_000, bytes.byteLength - 100_000, 100_000);
        expect(await blobs.stat(digest)).toBeNull();
        await staged.commit(digest);
        await staged.handle.close();
        await staged.discard();
        expect((await blobs.stat(digest))?.size).toBe(bytes.byteLength);
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
        // The same digest again replaces nothing readers could tell apart.
        const again = await blobs.stage();
        await again.handle.write(bytes, 0, bytes.byteLength, 0);
        await again.commit(digest);
        await again.handle.close();
        expect((await read(await blobs.open(digest)))?.equals(bytes)).toBe(true);
        const stored = (await h.inspect?.()) ?? [];
        const dropped = content(50_000);
        const discarded = await blobs.stage();
        await discarded.handle.write(dropped.bytes, 0, dropped.bytes.byteLength, 0);
        await discarded.handle.close();
        await discarded.discard();
        expect(await blobs.stat(dropped.digest)).toBeNull();
        if (h.inspect) {
          expect(await h.inspect()).toEqual(stored);
          expect(stored.filter((key) => !before.includes(key))).toHaveLength(1);
        }
      })());

    it(
      'deletes and enumerates blobs',
      use(async ({ storage: { blobs } }) => {
        const items = [content(10), content(20), content(30)];
        for (const item of items) await blobs.put(item.digest, streamOf(item.bytes));
        const listed = new Map<string, number>();
        for await (const info of blobs.list()) listed.set(info.digest, info.size);
        expect(listed).toEqual(new Map(items.map((item) => [item.digest, item.bytes.byteLength])));
        expect(await blobs.delete(items[1]!.digest)).toBe(true);
        expect(await blobs.stat(items[1]!.digest)).toBeNull();
        expect(await blobs.delete(items[1]!.digest)).toBe(false);
        const after: string[] = [];
        for await (const info of blobs.list()) after.push(info.digest);
        expect(after.sort()).toEqual([items[0]!.digest, items[2]!.digest].sort());
      }),
    );
  });
}
