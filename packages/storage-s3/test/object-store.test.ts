/**
 * The in-memory object store against a real S3 server: the same checks run on both, so what the
 * offline suites rely on is what S3 servers do.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { collectBytes } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { AwsObjectStore } from '../src/objects/aws.js';
import { statusOf } from '../src/objects/errors.js';
import { MemoryObjectStore } from '../src/objects/memory.js';
import { MinioObjectStore } from '../src/objects/minio.js';
import type { ObjectStore } from '../src/objects/types.js';
import { listAll, listPrefixes } from '../src/writer.js';
import { awsClient, env, minioClient, useBucket } from './helpers.js';

const MiB = 1024 * 1024;

async function failure(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return statusOf(error) ?? -1;
  }
  return undefined;
}

async function text(store: ObjectStore, key: string, range?: { offset: number; length: number }) {
  const body = await store.get(key, range);
  return body ? (await collectBytes(body)).toString() : null;
}

/** The checks, on one store; `p` is a fresh prefix. */
function checks(name: string, open: () => ObjectStore): void {
  describe(name, () => {
    const p = () => `o-${randomUUID()}/`;

    it('reads what was written, whole or in ranges, with whole-second dates on HEAD', async () => {
      const store = open();
      const key = `${p()}a`;
      expect(await store.head(key)).toBeNull();
      expect(await store.get(key)).toBeNull();
      expect(await store.put(key, Buffer.from('0123456789'), { metadata: { digest: 'x' } })).toBe(true);
      const head = await store.head(key);
      expect(head?.size).toBe(10);
      expect(head?.metadata).toMatchObject({ digest: 'x' });
      expect(head!.lastModified.getTime() % 1000).toBe(0);
      expect(await text(store, key)).toBe('0123456789');
      expect(await text(store, key, { offset: 3, length: 4 })).toBe('3456');
      expect(await failure(store.get(key, { offset: 10, length: 1 }))).toBe(416);
    });

    it('creates a key only once with If-None-Match', async () => {
      const store = open();
      const key = `${p()}claim`;
      expect(await store.put(key, Buffer.from('1'), { ifNoneMatch: true })).toBe(true);
      expect(await store.put(key, Buffer.from('2'), { ifNoneMatch: true })).toBe(false);
      expect(await text(store, key)).toBe('1');
    });

    it('lists in byte order, page by page, with common prefixes', async () => {
      const store = open();
      const prefix = p();
      const names = ['a/1', 'a/2', 'b', 'c/x/1', 'c/y', 'd'];
      for (const name of names) await store.put(`${prefix}${name}`, Buffer.from(name));
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await store.list(prefix, { maxKeys: 2, ...(token ? { token } : {}) });
        pages.push(page.objects.map((o) => o.key.slice(prefix.length)));
        token = page.next;
      } while (token);
      expect(pages).toEqual([
        ['a/1', 'a/2'],
        ['b', 'c/x/1'],
        ['c/y', 'd'],
      ]);
      const all: string[] = [];
      for await (const o of listAll(store, prefix, `${prefix}b`)) all.push(o.key.slice(prefix.length));
      expect(all).toEqual(['c/x/1', 'c/y', 'd']);
      const dirs = (await listPrefixes(store, prefix)).map((d) => d.slice(prefix.length));
      expect(dirs).toEqual(['a/', 'c/']);
      const delimited = await store.list(prefix, { delimiter: '/', maxKeys: 2 });
      expect(delimited.prefixes.map((d) => d.slice(prefix.length))).toEqual(['a/']);
      expect(delimited.objects.map((o) => o.key.slice(prefix.length))).toEqual(['b']);
      const rest = await store.list(prefix, { delimiter: '/', token: delimited.next! });
      expect(rest.prefixes.map((d) => d.slice(prefix.length))).toEqual(['c/']);
      expect(rest.objects.map((o) => o.key.slice(prefix.length))).toEqual(['d']);
    });

    it('completes a multipart upload of parts and part copies, and refuses small middle parts', async () => {
      const store = open();
      const prefix = p();
      const source = `${prefix}source`;
      const big = randomBytes(5 * MiB);
      await store.put(source, big);
      const key = `${prefix}blob`;
      const id = await store.createMultipart(key);
      const listed = (await store.listMultipart(prefix)).uploads;
      expect(listed.map((u) => [u.key, u.uploadId])).toEqual([[key, id]]);
      expect(Math.abs(listed[0]!.initiated.getTime() - Date.now())).toBeLessThan(60_000);
      const e1 = await store.copyPart(key, id, 1, source, { offset: 0, length: big.byteLength });
      const e2 = await store.uploadPart(key, id, 2, Buffer.from('tail'));
      expect(
        await failure(store.copyPart(key, id, 3, source, { offset: 5 * MiB - 1, length: 2 })),
      ).toBeGreaterThanOrEqual(400);
      await store.completeMultipart(key, id, [
        { partNumber: 1, etag: e1 },
        { partNumber: 2, etag: e2 },
      ]);
      expect((await store.head(key))?.size).toBe(5 * MiB + 4);
      expect(await text(store, key, { offset: 5 * MiB, length: 4 })).toBe('tail');
      expect((await store.listMultipart(prefix)).uploads).toEqual([]);

      const small = await store.createMultipart(`${prefix}small`);
      const s1 = await store.uploadPart(`${prefix}small`, small, 1, Buffer.from('too small'));
      const s2 = await store.uploadPart(`${prefix}small`, small, 2, Buffer.from('last'));
      const refused = await failure(
        store.completeMultipart(`${prefix}small`, small, [
          { partNumber: 1, etag: s1 },
          { partNumber: 2, etag: s2 },
        ]),
      );
      expect(refused).toBe(400);
      expect(await store.head(`${prefix}small`)).toBeNull();
      await store.abortMultipart(`${prefix}small`, small);
      expect((await store.listMultipart(prefix)).uploads).toEqual([]);
    });

    it('fails to complete an aborted upload, and aborting twice is fine', async () => {
      const store = open();
      const key = `${p()}aborted`;
      const id = await store.createMultipart(key);
      const etag = await store.uploadPart(key, id, 1, Buffer.from('x'));
      await store.abortMultipart(key, id);
      await store.abortMultipart(key, id);
      const status = await failure(store.completeMultipart(key, id, [{ partNumber: 1, etag }]));
      expect(status === 404 || status === 500).toBe(true);
      expect(await store.head(key)).toBeNull();
    });

    it('copies whole objects, and fails on a missing source', async () => {
      const store = open();
      const prefix = p();
      await store.put(`${prefix}a`, Buffer.from('abc'));
      await store.copy(`${prefix}a`, `${prefix}b`);
      expect(await text(store, `${prefix}b`)).toBe('abc');
      expect(await failure(store.copy(`${prefix}missing`, `${prefix}c`))).toBe(404);
      await store.delete([`${prefix}a`, `${prefix}b`, `${prefix}never`]);
      expect(await store.head(`${prefix}a`)).toBeNull();
    });
  });
}

checks('in-memory object store', () => new MemoryObjectStore());

describe.skipIf(!env)('on the S3 server', () => {
  const s3 = useBucket('objects');
  checks('AWS SDK client', () => new AwsObjectStore(s3.admin, s3.bucket));
  checks(
    'AWS SDK client, SDK commands only',
    () => new AwsObjectStore(s3.admin, s3.bucket, { signedRequests: false }),
  );
  checks('minio client', () => new MinioObjectStore(minioClient(env!), s3.bucket));

  it('sends HEAD, GET, small PUT and DELETE signed by itself, and the rest through the SDK', async () => {
    const client = awsClient(env!);
    let commands = 0;
    const send = client.send.bind(client);
    client.send = ((...args: Parameters<typeof send>) => {
      commands++;
      return send(...args);
    }) as typeof client.send;
    try {
      const store = new AwsObjectStore(client, s3.bucket);
      const key = `signed-${randomUUID()}`;
      expect(await store.put(key, Buffer.from('abc'), { ifNoneMatch: true, metadata: { a: 'b' } })).toBe(
        true,
      );
      expect(await store.put(key, Buffer.from('abc'), { ifNoneMatch: true })).toBe(false);
      expect((await store.head(key))?.metadata).toMatchObject({ a: 'b' });
      expect(await text(store, key, { offset: 1, length: 2 })).toBe('bc');
      await store.delete([key]);
      expect(await store.head(key)).toBeNull();
      expect(commands).toBe(0);
      await store.list(key);
      expect(commands).toBe(1);
      const sdkOnly = new AwsObjectStore(client, s3.bucket, { signedRequests: false });
      expect(await sdkOnly.head(key)).toBeNull();
      expect(commands).toBe(2);
    } finally {
      client.destroy();
    }
  });
});
