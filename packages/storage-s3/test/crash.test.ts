/**
 * kill -9 of a registry process in the middle of S3 writes, then garbage collection: the multipart
 * uploads the dead process left are aborted, an upload in progress on another replica is not.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRegistry } from '@wharf/core';
import { OciClient, randomContent, type ServerProcess, startServer } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { AwsObjectStore } from '../src/objects/aws.js';
import { listAllMultipart } from '../src/writer.js';
import { env, TEST_CACHE, useBucket } from './helpers.js';

const MiB = 1024 * 1024;
const FIXTURE = fileURLToPath(new URL('./fixtures/crash-server.ts', import.meta.url));

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

describe.skipIf(!env)('kill -9 during S3 writes, then garbage collection', () => {
  const s3 = useBucket('crash');
  const servers: ServerProcess[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });

  it('aborts the multipart uploads of killed writers and leaves a live upload alone', {
    timeout: 180_000,
  }, async () => {
    const { bucket } = s3;
    const prefix = `k-${randomUUID()}`;
    const start = async (point: string): Promise<ServerProcess> => {
      const server = await startServer({ main: FIXTURE, args: [bucket, prefix, point] });
      servers.push(server);
      return server;
    };
    const objects = new AwsObjectStore(s3.admin, bucket);
    const multipart = async () => (await listAllMultipart(objects, `${prefix}/`)).map((u) => u.key);
    const failed = (request: Promise<Response>) =>
      request.then(
        async (res) => `${res.status} ${await res.text()}`,
        () => 'failed',
      );

    // A commit killed while it concatenates three staged 6 MiB chunks on the server.
    const composing = await start('compose');
    const chunked = randomContent(18 * MiB);
    let client = new OciClient(composing.url);
    let location = await client.startUpload('crash/app');
    for (let offset = 0; offset < chunked.bytes.byteLength; offset += 6 * MiB) {
      const res = await client.request('PATCH', location, {
        body: chunked.bytes.subarray(offset, offset + 6 * MiB),
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + 6 * MiB - 1}`,
        },
      });
      expect(res.status, await res.text()).toBe(202);
      location = client.location(res);
    }
    const killedCommit = location;
    expect(await failed(client.request('PUT', withDigest(location, chunked.digest)))).toBe('failed');
    await composing.kill();

    // A single-request PUT of 24 MiB killed while its parts stream into the blob's key.
    const putting = await start('blob-part');
    const monolithic = randomContent(24 * MiB);
    client = new OciClient(putting.url);
    location = await client.startUpload('crash/app');
    const put = client.request('PUT', withDigest(location, monolithic.digest), {
      body: monolithic.bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(await failed(put)).toBe('failed');
    await putting.kill();

    const left = await multipart();
    expect(left.filter((key) => key.includes('/blobs/'))).toHaveLength(2);

    // Meanwhile another replica receives a PATCH whose body is still arriving.
    const replica = await start('none');
    const other = new OciClient(replica.url);
    const live = randomContent(12 * MiB);
    const liveLocation = await other.startUpload('crash/live');
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 10 * MiB) await released;
        if (sent === live.bytes.byteLength) {
          controller.close();
          return;
        }
        controller.enqueue(live.bytes.subarray(sent, sent + MiB));
        sent += MiB;
      },
    });
    const patch = other.request('PATCH', liveLocation, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    const uploadId = new URL(liveLocation).pathname.split('/').pop()!;
    for (let i = 0; !(await multipart()).some((key) => key.includes(uploadId)); i++) {
      expect(i, 'the PATCH staged its first part').toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // Collect with no grace at all: only what no live session owns goes.
    const storage = createS3Storage({ client: s3.admin, bucket, prefix, cache: TEST_CACHE });
    const report = await createRegistry({ storage }).gc({ gracePeriod: 0 });
    await storage.close();
    expect(report.deleted.leftovers.map((l) => l.description).sort()).toEqual(
      left
        .filter((key) => key.includes('/blobs/'))
        .map((key) => `incomplete multipart upload of ${key}`)
        .sort(),
    );
    const remaining = await multipart();
    expect(remaining).toHaveLength(1);
    expect(remaining[0]).toContain(uploadId);

    // The live upload finishes, and the killed commit's session is still there to retry.
    release();
    const patched = await patch;
    expect(patched.status, await patched.text()).toBe(202);
    const committed = await other.request('PUT', withDigest(other.location(patched), live.digest));
    expect(committed.status, await committed.text()).toBe(201);
    const retried = await other.request(
      'PUT',
      withDigest(new URL(killedCommit).pathname + new URL(killedCommit).search, chunked.digest),
    );
    expect(retried.status, await retried.text()).toBe(201);
    expect((await other.getBlob('crash/app', chunked.digest)).equals(chunked.bytes)).toBe(true);
    expect(await multipart()).toEqual([]);
  });
});
