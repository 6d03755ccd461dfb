import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRegistry } from '@wharf/core';
import { createFsStorage, type FsStorage } from '@wharf/storage-fs';
import { jsonContent, makeImage, OciClient, randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listFiles, tempDir, v2 } from './helpers.js';

async function put(path: string, content: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

const hex = (digest: string): string => digest.slice('sha256:'.length);

describe("distribution's filesystem layout", () => {
  let work: { dir: string; remove: () => Promise<void> };
  let storage: FsStorage;

  beforeEach(async () => {
    work = await tempDir('layout');
    storage = await createFsStorage({ root: work.dir });
  });

  afterEach(async () => {
    await storage.close();
    await work.remove();
  });

  it('writes blobs, links, revisions and tags where distribution keeps them', async () => {
    const registry = createRegistry({ storage });
    const client = new OciClient('http://registry.local', (input, init) => registry.fetch(input, init));
    const image = makeImage({ layers: [2000] });
    await client.pushImage('lib/app', 'v1', image, 'chunked');
    const m = hex(image.manifest.digest);
    const files = await listFiles(v2(work.dir));
    const expected = [
      ...[image.config, image.layers[0]!, image.manifest].map(
        (b) => `blobs/sha256/${hex(b.digest).slice(0, 2)}/${hex(b.digest)}/data`,
      ),
      ...[image.config, image.layers[0]!].map(
        (b) => `repositories/lib/app/_layers/sha256/${hex(b.digest)}/link`,
      ),
      `repositories/lib/app/_manifests/revisions/sha256/${m}/link`,
      `repositories/lib/app/_manifests/revisions/sha256/${m}/mediatype`,
      'repositories/lib/app/_manifests/tags/v1/current/link',
      `repositories/lib/app/_manifests/tags/v1/index/sha256/${m}/link`,
    ].sort();
    expect(files).toEqual(expected);
    // Links hold exactly the digest, as distribution writes them.
    const base = v2(work.dir);
    expect(await readFile(join(base, 'repositories/lib/app/_manifests/tags/v1/current/link'), 'utf8')).toBe(
      image.manifest.digest,
    );
    expect(
      await readFile(
        join(base, `repositories/lib/app/_layers/sha256/${hex(image.config.digest)}/link`),
        'utf8',
      ),
    ).toBe(image.config.digest);
    expect(
      await readFile(join(base, `repositories/lib/app/_manifests/revisions/sha256/${m}/mediatype`), 'utf8'),
    ).toBe(image.mediaType);
  });

  it('serves a tree distribution wrote, sniffing media types it did not record', async () => {
    const base = v2(work.dir);
    const layer = randomContent(70_000);
    const config = jsonContent({ architecture: 'amd64', os: 'linux' });
    const manifest = jsonContent({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: config.digest,
        size: config.bytes.byteLength,
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          digest: layer.digest,
          size: 70_000,
        },
      ],
    });
    for (const blob of [layer, config, manifest]) {
      await put(
        join(base, 'blobs/sha256', hex(blob.digest).slice(0, 2), hex(blob.digest), 'data'),
        blob.bytes,
      );
    }
    for (const repo of ['library/busybox', 'library/busybox/nested']) {
      for (const blob of [layer, config]) {
        await put(join(base, 'repositories', repo, '_layers/sha256', hex(blob.digest), 'link'), blob.digest);
      }
      await put(
        join(base, 'repositories', repo, '_manifests/revisions/sha256', hex(manifest.digest), 'link'),
        manifest.digest,
      );
      await put(join(base, 'repositories', repo, '_manifests/tags/latest/current/link'), manifest.digest);
      await put(
        join(base, 'repositories', repo, '_manifests/tags/latest/index/sha256', hex(manifest.digest), 'link'),
        manifest.digest,
      );
    }
    // What distribution leaves around: an upload session, an emptied tag, an emptied layer link.
    await put(
      join(base, 'repositories/library/busybox/_uploads', randomUUID(), 'startedat'),
      new Date().toISOString(),
    );
    await put(join(base, 'repositories/only/uploads/_uploads', randomUUID(), 'data'), 'partial');
    await mkdir(join(base, 'repositories/library/busybox/_manifests/tags/gone/index'), { recursive: true });
    await mkdir(join(base, 'repositories/library/busybox/_layers/sha256', 'f'.repeat(64)), {
      recursive: true,
    });

    const { blobs, metadata } = storage;
    expect((await blobs.stat(layer.digest))?.size).toBe(70_000);
    expect(await metadata.hasBlobLink('library/busybox', layer.digest)).toBe(true);
    expect(await metadata.hasBlobLink('library/busybox', `sha256:${'f'.repeat(64)}`)).toBe(false);
    const record = await metadata.getManifest('library/busybox', manifest.digest);
    expect(record?.digest).toBe(manifest.digest);
    expect(record?.mediaType).toBeUndefined();
    expect(await metadata.getTag('library/busybox', 'latest')).toBe(manifest.digest);
    expect(await metadata.listTags('library/busybox')).toEqual(['latest']);
    expect(await metadata.listRepositories()).toEqual(['library/busybox', 'library/busybox/nested']);
    expect(await metadata.hasRepository('only/uploads')).toBe(false);
    expect((await all(metadata.listBlobLinks('library/busybox'))).map((l) => l.digest).sort()).toEqual(
      [layer.digest, config.digest].sort(),
    );
    expect((await all(blobs.list())).map((b) => b.digest).sort()).toEqual(
      [layer.digest, config.digest, manifest.digest].sort(),
    );

    const registry = createRegistry({ storage });
    const res = await registry.fetch(`/v2/library/busybox/manifests/latest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(Buffer.from(await res.arrayBuffer()).equals(manifest.bytes)).toBe(true);
    const blob = await registry.fetch(`/v2/library/busybox/nested/blobs/${layer.digest}`, {
      headers: { Range: 'bytes=100-199' },
    });
    expect(blob.status).toBe(206);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer.bytes.subarray(100, 200))).toBe(true);
  });

  it('removes what it deleted, down to the directories', async () => {
    const { blobs, metadata } = storage;
    const blob = randomContent(1000);
    const before = await listFiles(work.dir);
    await blobs.put(blob.digest, once(blob.bytes));
    await metadata.linkBlob('a/b', blob.digest);
    await metadata.putManifest('a/b', { digest: blob.digest, mediaType: 'application/json' });
    await metadata.putTag('a/b', 't', blob.digest);
    await metadata.putReferrer('a/b', blob.digest, {
      mediaType: 'application/json',
      digest: blob.digest,
      size: 1,
    });
    expect(await metadata.deleteReferrer('a/b', blob.digest, blob.digest)).toBe(true);
    expect(await metadata.deleteTag('a/b', 't')).toBe(true);
    expect(await metadata.deleteManifest('a/b', blob.digest)).toBe(true);
    expect(await metadata.unlinkBlob('a/b', blob.digest)).toBe(true);
    expect(await blobs.delete(blob.digest)).toBe(true);
    expect(await listFiles(work.dir)).toEqual(before);
    expect(await metadata.listRepositories()).toEqual([]);
    expect(await metadata.hasRepository('a/b')).toBe(false);
  });
});

describe('blob streams', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let storage: FsStorage;

  beforeEach(async () => {
    work = await tempDir('streams');
    storage = await createFsStorage({ root: work.dir });
  });

  afterEach(async () => {
    await storage.close();
    await work.remove();
  });

  const openFiles = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

  it.skipIf(process.platform !== 'linux')(
    'release their file when returned unread, stopped early or aborted',
    async () => {
      const { blobs } = storage;
      const blob = randomContent(3 * 1024 * 1024 + 5);
      await blobs.put(blob.digest, once(blob.bytes));
      const before = await openFiles();
      // Checked on their own first: nothing else allocates, so no garbage collection closes them.
      for (let i = 0; i < 40; i++) {
        const unread = await blobs.open(blob.digest);
        await unread![Symbol.asyncIterator]().return?.();
      }
      expect(await openFiles()).toBeLessThan(before + 10);
      for (let i = 0; i < 40; i++) {
        const partial = await blobs.open(blob.digest, { range: { offset: 10, length: 2 * 1024 * 1024 } });
        for await (const chunk of partial!) {
          expect(chunk.byteLength).toBeGreaterThan(0);
          break;
        }
        const controller = new AbortController();
        const aborted = await blobs.open(blob.digest, { signal: controller.signal });
        await expect(
          (async () => {
            for await (const _ of aborted!) controller.abort(new Error('client went away'));
          })(),
        ).rejects.toThrow('client went away');
      }
      expect(await openFiles()).toBeLessThan(before + 10);
      // A stream keeps reading the file it opened even if the blob is deleted meanwhile.
      const stream = await blobs.open(blob.digest);
      expect(await blobs.delete(blob.digest)).toBe(true);
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream!) chunks.push(chunk);
      expect(Buffer.concat(chunks).equals(blob.bytes)).toBe(true);
      expect(await blobs.open(blob.digest)).toBeNull();
    },
  );
});

describe('recovery from what a crash leaves behind', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let storage: FsStorage;

  beforeEach(async () => {
    work = await tempDir('recovery');
    storage = await createFsStorage({ root: work.dir });
  });

  afterEach(async () => {
    await storage.close();
    await work.remove();
  });

  it('ignores half-written chunks and torn hash states, and reaps dead leftovers', async () => {
    const { uploads, blobs } = storage;
    const id = randomUUID();
    await uploads.create({ id, repository: 'r', algorithm: 'sha256' });
    const first = randomContent(5000).bytes;
    await uploads.append(id, { offset: 0, body: once(first) });
    await uploads.saveHashState(id, { algorithm: 'sha256', offset: 5000, state: new Uint8Array([1, 2, 3]) });
    const dir = join(v2(work.dir), '_wharf', 'uploads', id);
    // A chunk a crashed writer never claimed, and a hash state torn mid-write.
    await writeFile(join(dir, '.part-crashed'), randomContent(3000).bytes);
    await writeFile(join(dir, 'hash-5000.sha256'), new Uint8Array([1, 2]));

    // A fresh process sees only what was claimed; the torn state is not offered.
    const other = await createFsStorage({ root: work.dir });
    const session = await other.uploads.get(id);
    expect(session?.size).toBe(5000);
    expect(session?.hashState).toBeNull();
    const second = randomContent(2000).bytes;
    await other.uploads.append(id, { offset: 5000, body: once(second) });
    const staged = Buffer.concat([first, second]);
    await other.uploads.commit(id, { digest: sha256(staged), size: staged.byteLength });
    expect((await blobs.stat(sha256(staged)))?.size).toBe(7000);
    await other.close();

    // A session directory without its record (crash during create), a killed commit's session
    // and old temporary files are reaped by garbage collection once older than its upload max
    // age; recent ones are left alone.
    const reaping = await createFsStorage({ root: work.dir });
    const dead = join(v2(work.dir), '_wharf', 'uploads', randomUUID());
    await mkdir(dead);
    await writeFile(join(dead, '.part-crashed'), 'x');
    const tmp = join(v2(work.dir), '_wharf', 'tmp');
    await writeFile(join(tmp, 'blob-old'), 'x');
    await mkdir(join(tmp, 'commit-killed'));
    await writeFile(join(tmp, 'commit-killed', 'chunk-0'), randomContent(20_000).bytes);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await writeFile(join(tmp, 'blob-recent'), 'x');
    const live = randomUUID();
    await reaping.uploads.create({ id: live, repository: 'r', algorithm: 'sha256' });
    const registry = createRegistry({ storage: reaping });
    // The default upload max age (a day) keeps them all.
    expect((await registry.gc()).deleted.leftovers).toEqual([]);
    const report = await registry.gc({ uploadMaxAge: 1000 });
    expect(report.deleted.leftovers.map((l) => l.description).sort()).toEqual(
      [`_wharf/uploads/${dead.split('/').pop()}`, '_wharf/tmp/blob-old', '_wharf/tmp/commit-killed'].sort(),
    );
    expect(
      report.deleted.leftovers.find((l) => l.description.endsWith('commit-killed'))?.size,
    ).toBeGreaterThanOrEqual(20_000);
    expect((await all(reaping.uploads.list())).map((s) => s.id)).toEqual([live]);
    expect((await listFiles(join(v2(work.dir), '_wharf'))).sort()).toEqual(
      [`uploads/${live}/info`, 'tmp/blob-recent'].sort(),
    );
    await reaping.close();
  });

  it('restores a blob a conditional delete finds in use', async () => {
    const { blobs } = storage;
    const blob = randomContent(100);
    await blobs.put(blob.digest, once(blob.bytes));
    const before = (await blobs.stat(blob.digest))!.modifiedAt!;
    expect(await blobs.delete(blob.digest, { unmodifiedSince: new Date(before.getTime() - 1000) })).toBe(
      false,
    );
    expect(await blobs.touch(blob.digest)).toBe(true);
    expect((await blobs.stat(blob.digest))?.size).toBe(100);
    expect(await blobs.delete(blob.digest, { unmodifiedSince: new Date(Date.now() + 1000) })).toBe(true);
    expect(await blobs.touch(blob.digest)).toBe(false);
    expect(await listFiles(join(v2(work.dir), '_wharf'))).toEqual([]);
  });
});
