import { mkdtemp, open, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStorage } from '../../src/stores/memory/index.js';
import type { BlobStore, RegistryStorage, StagedBlob } from '../../src/stores/types.js';
import { type Proxied, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-staged-'));
});
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** What the fill did with the store. */
interface Calls {
  puts: number;
  commits: string[];
  discards: number;
  /** Makes the next commits fail (a full disk). */
  failCommit: boolean;
}

/**
 * Memory storage whose blob store can also stage: a file in `dir` that a commit reads into the
 * store (a stand-in for a filesystem store's rename).
 */
function stagingStorage(calls: Calls): RegistryStorage {
  const storage = createMemoryStorage();
  const inner = storage.blobs;
  const blobs: BlobStore = {
    stat: (digest) => inner.stat(digest),
    open: (digest, options) => inner.open(digest, options),
    put: (digest, source, options) => {
      calls.puts++;
      return inner.put(digest, source, options);
    },
    delete: (digest, options) => inner.delete(digest, options),
    touch: (digest) => inner.touch!(digest),
    list: () => inner.list(),
    async stage(): Promise<StagedBlob> {
      const path = join(dir, `staged-${calls.commits.length}-${calls.discards}-${Math.random()}`);
      const handle = await open(path, 'wx+');
      const remove = () => unlink(path).catch(() => {});
      return {
        handle,
        sync: () => handle.datasync(),
        async commit(digest) {
          if (calls.failCommit) {
            await remove();
            throw new Error('ENOSPC');
          }
          const bytes = await readFile(path);
          await inner.put(
            digest,
            (async function* () {
              yield bytes;
            })(),
          );
          await remove();
          calls.commits.push(digest);
        },
        async discard() {
          calls.discards++;
          await remove();
        },
      };
    },
  };
  return { ...storage, blobs };
}

async function setup(calls: Calls): Promise<Proxied> {
  upstream = await startUpstream();
  return proxied({
    storage: stagingStorage(calls),
    upstreams: [{ namespace: 'upstream.test', url: upstream.url, prefix: 'hub/' }],
  });
}

/** Polls wait for the fill's datasync and commit, which a disk busy with other tests can hold for seconds. */
const DISK = { timeout: 15_000 };

function newCalls(): Calls {
  return { puts: 0, commits: [], discards: 0, failCommit: false };
}

describe('a cold blob spooled into a staged file of the store', () => {
  it('is stored by committing the spool itself, never copied through put', async () => {
    const calls = newCalls();
    const proxy = await setup(calls);
    const blob = randomContent(20 * 1024 * 1024 + 5);
    await upstream!.client.pushBlob('library/app', blob.bytes);
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    await expect
      .poll(() => proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest), DISK)
      .toBe(true);
    expect(calls.commits).toEqual([blob.digest]);
    expect(calls.puts).toBe(0);
    const stored = await proxy.storage.blobs.open(blob.digest);
    const chunks: Uint8Array[] = [];
    for await (const chunk of stored!) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(blob.bytes)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  for (const [what, fault] of [
    ['a truncated body', { truncateAt: 1024 * 1024 }],
    ['a wrong digest', { corrupt: true }],
  ] as const) {
    it(`is discarded on ${what}: nothing stored, no file left`, async () => {
      const calls = newCalls();
      const proxy = await setup(calls);
      const blob = randomContent(12 * 1024 * 1024);
      await upstream!.client.pushBlob('library/app', blob.bytes);
      upstream!.fault = (req) => (req.url?.includes('/blobs/') ? fault : undefined);
      const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
      await expect(res.arrayBuffer()).rejects.toThrow();
      await expect.poll(() => calls.discards, DISK).toBe(1);
      expect(calls.commits).toEqual([]);
      expect(calls.puts).toBe(0);
      expect(await proxy.storage.blobs.stat(blob.digest)).toBeNull();
      expect(await proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest)).toBe(false);
      await expect.poll(() => readdir(dir), DISK).toEqual([]);
    });
  }

  it('still serves the verified blob when the commit fails, and fetches it again next time', async () => {
    const calls = newCalls();
    const proxy = await setup(calls);
    calls.failCommit = true;
    const blob = randomContent(3 * 1024 * 1024);
    await upstream!.client.pushBlob('library/app', blob.bytes);
    const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    await expect.poll(() => readdir(dir), DISK).toEqual([]);
    expect(await proxy.storage.blobs.stat(blob.digest)).toBeNull();
    calls.failCommit = false;
    const again = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
    expect(sha256(Buffer.from(await again.arrayBuffer()))).toBe(blob.digest);
    await expect
      .poll(() => proxy.storage.metadata.hasBlobLink('hub/library/app', blob.digest), DISK)
      .toBe(true);
    expect(calls.commits).toEqual([blob.digest]);
    const gets = upstream!.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/'));
    expect(gets).toHaveLength(2);
  });
});
