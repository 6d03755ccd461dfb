/**
 * The read path's in-process cache: what it saves, and that replicas sharing a bucket never act on
 * a fact another replica deleted (docs/architecture.md, "Caching on S3").
 */
import { createRegistry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { DeletionNotices, noticeSettings } from '../src/cache/notices.js';
import { TagCache } from '../src/cache/tags.js';
import { MemoryObjectStore, type MemoryObjectStoreOptions } from '../src/objects/memory.js';
import { type StorageSettings, storageOn } from '../src/storage.js';

const LEASE = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two registries (replicas) on one in-memory bucket. */
function replicas(settings: StorageSettings = {}, server: MemoryObjectStoreOptions = {}) {
  const store = new MemoryObjectStore(server);
  const open = () => {
    const storage = storageOn(store, { prefix: 'r', cache: { lease: LEASE }, ...settings });
    const registry = createRegistry({ storage });
    const client = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(new Request(input, init)),
    );
    return { storage, client };
  };
  return { store, a: open(), b: open() };
}

/** The S3 calls `fn` makes. */
async function callsOf(
  store: MemoryObjectStore,
  fn: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const before = new Map(store.calls);
  await fn();
  const made: Record<string, number> = {};
  for (const [operation, n] of store.calls) {
    const delta = n - (before.get(operation) ?? 0);
    if (delta > 0) made[operation] = delta;
  }
  return made;
}

async function status(client: OciClient, method: string, path: string): Promise<number> {
  const res = await client.request(method, path);
  await res.arrayBuffer();
  return res.status;
}

describe('S3 read path cache', () => {
  it('answers a HEAD of a blob, and a GET of a manifest by tag with one S3 request', async () => {
    // A long lease: on a busy machine a check slower than half a lease does not renew it.
    const { store, a } = replicas({ cache: { lease: 10_000 } });
    const image = makeImage({ layers: [1000] });
    await a.client.pushImage('team/app', 'v1', image);
    const layer = `/v2/team/app/blobs/${image.layers[0]!.digest}`;
    // The first requests learn what the push did not leave in memory (the manifest's bytes).
    expect(await status(a.client, 'HEAD', layer)).toBe(200);
    expect(await status(a.client, 'GET', '/v2/team/app/manifests/v1')).toBe(200);
    for (let i = 0; i < 5; i++) {
      const head = await callsOf(store, async () => expect(await status(a.client, 'HEAD', layer)).toBe(200));
      // No HEAD, GET or PUT: at most the periodic check for deletions (one listing).
      expect(Object.keys(head).filter((op) => op !== 'list')).toEqual([]);
      expect(head.list ?? 0).toBeLessThanOrEqual(1);
      const manifest = await callsOf(store, async () => {
        const res = await a.client.request('GET', '/v2/team/app/manifests/v1', {
          headers: { Accept: image.mediaType },
        });
        expect(Buffer.from(await res.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
      });
      // The tag itself is read every time: tags are never served stale.
      expect(manifest.head).toBe(1);
      expect(Object.keys(manifest).filter((op) => op !== 'list' && op !== 'head')).toEqual([]);
    }
  });

  it('never answers from memory what another replica deleted', async () => {
    const { a, b } = replicas();
    const image = makeImage({ layers: [1000, 2000] });
    await a.client.pushImage('team/app', 'v1', image);
    const layer = `/v2/team/app/blobs/${image.layers[0]!.digest}`;
    const manifest = `/v2/team/app/manifests/${image.manifest.digest}`;
    // Both replicas know the blob link and the revision.
    for (const replica of [a, b]) {
      expect(await status(replica.client, 'HEAD', layer)).toBe(200);
      expect(await status(replica.client, 'HEAD', manifest)).toBe(200);
    }
    expect(await status(b.client, 'DELETE', layer)).toBe(202);
    // The instant B's delete returns, A sees it, although A answered from memory a moment ago.
    expect(await status(a.client, 'HEAD', layer)).toBe(404);
    expect(await status(b.client, 'DELETE', manifest)).toBe(202);
    expect(await status(a.client, 'HEAD', manifest)).toBe(404);
    expect(await status(a.client, 'GET', manifest)).toBe(404);
  });

  it('never reports a blob that another replica garbage-collected', async () => {
    const { a, b } = replicas();
    const content = Buffer.from('collected soon');
    const pushed = await a.client.pushBlob('team/app', content);
    expect((await a.storage.blobs.stat(pushed))?.size).toBe(content.byteLength);
    expect(await status(b.client, 'DELETE', `/v2/team/app/blobs/${pushed}`)).toBe(202);
    expect(await a.storage.blobs.stat(pushed)).not.toBeNull();
    const report = await b.storage.blobs.delete(pushed);
    expect(report).toBe(true);
    expect(await a.storage.blobs.stat(pushed)).toBeNull();
  });

  it('serves a tag that another replica moved at once, unless tags may be cached', async () => {
    for (const tagCacheTtl of [0, 60_000]) {
      const { a, b } = replicas({ tagCacheTtl });
      const [first, second, third] = [
        makeImage({ layers: [100] }),
        makeImage({ layers: [200] }),
        makeImage(),
      ];
      await a.client.pushImage('team/app', 'v1', first);
      const digestOfTag = async () =>
        (await a.client.request('HEAD', '/v2/team/app/manifests/v1')).headers.get('docker-content-digest');
      expect(await digestOfTag()).toBe(first.manifest.digest);
      await b.client.pushImage('team/app', 'v1', second);
      // Stale only when asked for: then until the answer expires, or this replica moves the tag.
      expect(await digestOfTag()).toBe(tagCacheTtl === 0 ? second.manifest.digest : first.manifest.digest);
      await a.client.pushImage('team/app', 'v1', third);
      expect(await digestOfTag()).toBe(third.manifest.digest);
    }
  });

  it('lets cached tag answers expire', () => {
    let now = 0;
    const tags = new TagCache(1000, 2, () => now);
    tags.set('r', 'a', 'sha256:1');
    tags.set('r', 'b', null);
    expect(tags.get('r', 'a')).toBe('sha256:1');
    expect(tags.get('r', 'b')).toBeNull();
    now = 999;
    expect(tags.get('r', 'a')).toBe('sha256:1');
    now = 1000;
    expect(tags.get('r', 'a')).toBeUndefined();
    tags.set('r', 'c', 'sha256:3');
    tags.set('r', 'd', 'sha256:4');
    // Bounded: the oldest answer went.
    expect(tags.get('r', 'b')).toBeUndefined();
    expect(tags.get('r', 'd')).toBe('sha256:4');
  });

  it('reads from the bucket while it cannot check for deletions', async () => {
    let failLists = false;
    const { store, a } = replicas(
      {},
      {
        hooks: {
          before: ({ operation }) => {
            if (failLists && operation === 'list') throw new Error('listing refused');
          },
        },
      },
    );
    const pushed = await a.client.pushBlob('team/app', Buffer.from('some bytes'));
    const layer = `/v2/team/app/blobs/${pushed}`;
    expect(await status(a.client, 'HEAD', layer)).toBe(200);
    failLists = true;
    await sleep(LEASE + 20);
    const calls = await callsOf(store, async () => expect(await status(a.client, 'HEAD', layer)).toBe(200));
    expect(calls.head).toBe(2);
  });

  it('withdraws a deletion announcement after the last deletion, and ignores stale ones', async () => {
    const store = new MemoryObjectStore();
    const settings = { ...noticeSettings(100), staleAfter: 300 };
    const notices = new DeletionNotices(store, 'd/', settings);
    const started = performance.now();
    expect(await notices.deleting(async () => store.keys())).toEqual([expect.stringMatching(/^d\//)]);
    // Announced, then waited a lease and the longest check before deleting.
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(store.keys()).toHaveLength(1);
    await sleep(settings.linger + 50);
    expect(store.keys()).toEqual([]);

    // A reader sees a live announcement (no lease), and none once it is stale (a crashed deleter).
    const reader = new DeletionNotices(store, 'd/', settings);
    await store.put('d/crashed', new Uint8Array(0));
    for (let i = 0; i < 5; i++) {
      expect(reader.usable()).toBe(false);
      await sleep(20);
    }
    await sleep(settings.staleAfter);
    const deadline = performance.now() + 5000;
    while (!reader.usable()) {
      expect(performance.now()).toBeLessThan(deadline);
      await sleep(10);
    }
  });

  it('announces a revision rewritten with another media type', async () => {
    const { a, b } = replicas();
    const record = {
      digest: makeImage().manifest.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    };
    await a.storage.metadata.putManifest('team/app', record);
    expect((await b.storage.metadata.getManifest('team/app', record.digest))?.mediaType).toBe(
      record.mediaType,
    );
    expect((await b.storage.metadata.getManifest('team/app', record.digest))?.mediaType).toBe(
      record.mediaType,
    );
    const other = 'application/vnd.docker.distribution.manifest.v2+json';
    await a.storage.metadata.putManifest('team/app', { ...record, mediaType: other });
    expect((await b.storage.metadata.getManifest('team/app', record.digest))?.mediaType).toBe(other);
  });
});
