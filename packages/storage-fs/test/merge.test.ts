import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { OffsetMismatchError } from '@wharf/core';
import { createFsStorage, type FsOperations, type FsStorage } from '@wharf/storage-fs';
import { REPO_ROOT, sha256 } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStorage, listFiles, tempDir, v2 } from './helpers.js';

const FIXTURE = new URL('./fixtures/append-and-crash.ts', import.meta.url).pathname;

async function* chunksOf(bytes: Uint8Array, size = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) yield bytes.subarray(offset, offset + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

function sessionDir(root: string, id: string): string {
  return join(v2(root), '_wharf', 'uploads', id);
}

/** Merges whose writes into the first chunk's file are slowed down, so they overlap everything. */
function slowMerges(delayMs: number): Partial<FsOperations> {
  return {
    async open(path, flags, mode) {
      const handle = await fsp.open(path, flags, mode);
      if (flags === 'r+' && /\/_wharf\/uploads\/[^/]+\/chunk-0$/.test(String(path))) {
        const writev = handle.writev.bind(handle);
        handle.writev = (async (...args: Parameters<typeof writev>) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          return writev(...args);
        }) as typeof handle.writev;
      }
      return handle;
    },
  };
}

describe('chunks merged into the first chunk file (fs)', () => {
  let work: { dir: string; remove: () => Promise<void> };
  const opened: FsStorage[] = [];
  const open = async (fs?: Partial<FsOperations>): Promise<FsStorage> => {
    const storage = await createFsStorage({ root: work.dir, ...(fs ? { fs } : {}) });
    opened.push(storage);
    return storage;
  };

  beforeEach(async () => {
    work = await tempDir('merge');
  });

  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    await work.remove();
  });

  it('merges acknowledged chunks, frees their files, and still reads and commits the exact bytes', async () => {
    const storage = await open();
    const sizes = [300_000, 1_500_000, 2_000_003, 777, 1_048_576];
    const chunks = sizes.map((size) => randomBytes(size));
    const all = Buffer.concat(chunks);
    const id = randomUUID();
    await storage.uploads.create({ id, repository: 'merge/app', algorithm: 'sha256' });
    const offsets: number[] = [];
    let offset = 0;
    for (const chunk of chunks) {
      offsets.push(offset);
      const session = await storage.uploads.append(id, { offset, body: chunksOf(chunk) });
      offset += chunk.byteLength;
      expect(session.size).toBe(offset);
    }
    // close() waits for the background merges; a fresh instance (a restart) continues.
    await storage.close();
    const dir = sessionDir(work.dir, id);
    const names = await fsp.readdir(dir);
    for (const [i, start] of offsets.entries()) {
      if (i === 0) continue;
      expect(names).toContain(`merged-${start}`);
      // The merged chunk's own copy is gone (a sparse file keeps its length, which is its claim).
      const info = await fsp.stat(join(dir, `chunk-${start}`));
      expect(info.size).toBe(sizes[i]);
      expect(info.blocks).toBe(0);
    }
    const other = await open();
    expect((await other.uploads.get(id))?.size).toBe(all.byteLength);
    // Reads (re-hashing on another replica) come from the merged file.
    expect((await collect(other.uploads.read(id, { offset: 0, length: all.byteLength }))).equals(all)).toBe(
      true,
    );
    for (const [from, to] of [
      [299_990, 300_010],
      [1_000, 3_900_000],
      [3_800_002, all.byteLength],
    ] as const) {
      const bytes = await collect(other.uploads.read(id, { offset: from, length: to - from }));
      expect(bytes.equals(all.subarray(from, to))).toBe(true);
    }
    await other.uploads.commit(id, { digest: sha256(all), size: all.byteLength });
    const blob = await other.blobs.open(sha256(all));
    expect((await collect(blob!)).equals(all)).toBe(true);
    expect((await listFiles(v2(work.dir))).filter((f) => f.startsWith('_wharf'))).toEqual([]);
  });

  it('lets exactly one of two writers racing at an offset win, and never lets a merge change staged bytes', async () => {
    // Two processes' stores on one root, their merges slowed down to overlap races and commits.
    const a = await open(slowMerges(5));
    const b = await open(slowMerges(5));
    for (let round = 0; round < 6; round++) {
      const id = randomUUID();
      await a.uploads.create({ id, repository: 'merge/race', algorithm: 'sha256' });
      const staged: Buffer[] = [];
      const first = randomBytes(200_000 + round);
      await a.uploads.append(id, { offset: 0, body: chunksOf(first) });
      staged.push(first);
      let size = first.byteLength;
      for (let step = 0; step < 4; step++) {
        const bodies = [randomBytes(400_000 + step * 1000), randomBytes(400_000 + (step % 2) * 7)];
        const results = await Promise.allSettled(
          [a, b].map((store, i) => store.uploads.append(id, { offset: size, body: chunksOf(bodies[i]!) })),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won, `round ${round} step ${step}`).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(OffsetMismatchError);
        const winner = bodies[won[0]!]!;
        staged.push(winner);
        size += winner.byteLength;
        // A writer at an old offset is refused too.
        await expect(
          b.uploads.append(id, { offset: size - winner.byteLength, body: chunksOf(randomBytes(1000)) }),
        ).rejects.toBeInstanceOf(OffsetMismatchError);
      }
      const all = Buffer.concat(staged);
      expect((await collect(b.uploads.read(id, { offset: 0, length: size }))).equals(all)).toBe(true);
      // Commit through either store while merges still run in both.
      await (round % 2 ? a : b).uploads.commit(id, { digest: sha256(all), size });
      expect((await collect((await a.blobs.open(sha256(all)))!)).equals(all)).toBe(true);
    }
    // Merges that finish after their commit wrote only identical bytes.
    await a.close();
    await b.close();
    expect(await checkStorage(work.dir)).toEqual([]);
    expect((await listFiles(v2(work.dir))).filter((f) => f.startsWith('_wharf'))).toEqual([]);
  });

  for (const point of ['copy', 'marker', 'hollow'] as const) {
    it(`recovers from kill -9 of a process in the middle of a merge (${point})`, async () => {
      const sizes = [700_000, 2_500_000, 1_300_000];
      const chunks = sizes.map((size) => randomBytes(size));
      const all = Buffer.concat(chunks);
      const files: string[] = [];
      for (const [i, chunk] of chunks.entries()) {
        files.push(join(work.dir, `chunk-input-${i}`));
        await fsp.writeFile(files[i]!, chunk);
      }
      const id = randomUUID();
      const child = spawn(
        process.execPath,
        ['--conditions=@wharf/source', '--import', 'tsx', FIXTURE, work.dir, id, point, ...files],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        output += text;
      });
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        output += text;
      });
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      expect({ code, signal }, output).toEqual({ code: null, signal: 'SIGKILL' });

      // What a power loss could add: bytes never vouched for by a marker are garbage. An unmarked
      // region of the first chunk's file must never be trusted, a marked chunk's own file is spare.
      const dir = sessionDir(work.dir, id);
      const names = await fsp.readdir(dir);
      const offsets = names.flatMap((name) => /^chunk-(\d+)$/.exec(name)?.[1] ?? []).map(Number);
      offsets.sort((x, y) => x - y);
      expect(offsets.slice(0, 2)).toEqual([0, sizes[0]]);
      const firstFile = await fsp.open(join(dir, 'chunk-0'), 'r+');
      try {
        for (const [i, start] of offsets.entries()) {
          if (i === 0) continue;
          const length = sizes[i]!;
          if (names.includes(`merged-${start}`)) {
            await fsp.writeFile(join(dir, `chunk-${start}`), Buffer.alloc(length, 0xee));
          } else {
            await firstFile.write(Buffer.alloc(length, 0xee), 0, length, start);
          }
        }
      } finally {
        await firstFile.close();
      }
      if (point === 'hollow') expect(names).toContain(`merged-${sizes[0]}`);
      else expect(names).not.toContain(`merged-${sizes[0]}`);

      // A restarted process resumes the session where it stood and commits the exact bytes.
      const storage = await open();
      const session = await storage.uploads.get(id);
      expect(session?.size).toBe(offsets.length === 2 ? sizes[0]! + sizes[1]! : all.byteLength);
      if (session!.size < all.byteLength) {
        await storage.uploads.append(id, { offset: session!.size, body: chunksOf(chunks[2]!) });
      }
      await storage.uploads.commit(id, { digest: sha256(all), size: all.byteLength });
      await storage.close();
      expect((await collect((await storage.blobs.open(sha256(all)))!)).equals(all)).toBe(true);
      expect(await checkStorage(work.dir)).toEqual([]);
      expect((await listFiles(v2(work.dir))).filter((f) => f.startsWith('_wharf'))).toEqual([]);
    }, 60_000);
  }
});
