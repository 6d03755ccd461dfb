import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createRegistry } from '@wharf/core';
import { OciClient, randomContent, sha256 } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { contents, env, useBucket } from './helpers.js';

const MiB = 1024 * 1024;

describe.skipIf(!env)('failed and cancelled uploads leave nothing in the bucket', () => {
  const s3 = useBucket('cleanup');
  const { bucket } = s3;

  async function purgeRecord(key: string): Promise<void> {
    await s3.admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  /** A registry on a fresh prefix of the bucket, answering in process. */
  function registryOnPrefix(): { client: OciClient; prefix: string } {
    const prefix = `c-${randomUUID()}/`;
    const registry = createRegistry({ storage: createS3Storage({ client: s3.admin, bucket, prefix }) });
    const client = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(new Request(input, init)),
    );
    return { client, prefix };
  }

  async function patch(
    client: OciClient,
    location: string,
    bytes: Uint8Array,
    offset: number,
  ): Promise<string> {
    const res = await client.request('PATCH', location, {
      body: bytes,
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + bytes.byteLength - 1}`,
      },
    });
    expect(res.status, await res.text()).toBe(202);
    return client.location(res);
  }

  /** A 3 MiB chunk (a small staged segment) and a 10 MiB one (merged, a multipart upload). */
  async function stageTwoChunks(client: OciClient, prefix: string, bytes: Buffer): Promise<string> {
    let location = await client.startUpload('lib/app');
    location = await patch(client, location, bytes.subarray(0, 3 * MiB), 0);
    location = await patch(client, location, bytes.subarray(3 * MiB), 3 * MiB);
    // The session really is staged in the bucket, so the assertions below can fail.
    const staged = await contents(s3.admin, bucket, prefix);
    expect(staged.some((k) => k.includes('/_wharf/uploads/') && /\/s\/\d+-/.test(k))).toBe(true);
    return location;
  }

  it('a cancelled upload leaves no staged objects and no multipart uploads', async () => {
    const { client, prefix } = registryOnPrefix();
    const { bytes } = randomContent(13 * MiB);
    const location = await stageTwoChunks(client, prefix, bytes);
    const res = await client.request('DELETE', location);
    expect(res.status).toBe(204);
    expect(await contents(s3.admin, bucket, prefix)).toEqual([]);
    expect((await client.request('GET', location)).status).toBe(404);
  });

  it('a commit with the wrong digest leaves no staged objects, no multipart uploads and no blob', async () => {
    const { client, prefix } = registryOnPrefix();
    const { bytes } = randomContent(13 * MiB);
    const location = await stageTwoChunks(client, prefix, bytes);
    const wrong = sha256(Buffer.from('something else'));
    const res = await client.request('PUT', `${location}?digest=${encodeURIComponent(wrong)}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DIGEST_INVALID');
    expect(await contents(s3.admin, bucket, prefix)).toEqual([]);
    expect((await client.request('HEAD', `/v2/lib/app/blobs/${wrong}`)).status).toBe(404);
  });

  it('a PATCH whose body breaks midway leaves no segment and no multipart upload', async () => {
    const { client, prefix } = registryOnPrefix();
    const location = await client.startUpload('lib/app');
    const before = await contents(s3.admin, bucket, prefix);
    const piece = randomContent(MiB).bytes;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // 20 MiB (two parts of a multipart upload), then the client goes away.
        if (sent === 20) controller.error(new Error('connection reset'));
        else {
          sent++;
          controller.enqueue(new Uint8Array(piece));
        }
      },
    });
    const outcome = await client
      .request('PATCH', location, { body, headers: { 'Content-Type': 'application/octet-stream' } })
      .then((res) => res.status)
      .catch(() => 'failed');
    expect(outcome).not.toBe(202);
    expect(await contents(s3.admin, bucket, prefix)).toEqual(before);
    expect((await client.request('DELETE', location)).status).toBe(204);
    expect(await contents(s3.admin, bucket, prefix)).toEqual([]);
  });

  it('a commit leaves only the blob and its link, merged-away segments and hash states included', async () => {
    for (const chunks of [[3 * MiB, 10 * MiB, MiB], [13 * MiB]]) {
      const { client, prefix } = registryOnPrefix();
      const { bytes, digest } = randomContent(chunks.reduce((n, c) => n + c, 0));
      let location = await client.startUpload('lib/app');
      let offset = 0;
      for (const length of chunks) {
        location = await patch(client, location, bytes.subarray(offset, offset + length), offset);
        offset += length;
      }
      const res = await client.request('PUT', `${location}?digest=${encodeURIComponent(digest)}`);
      expect(res.status, await res.text()).toBe(201);
      const hex = digest.slice('sha256:'.length);
      expect(await contents(s3.admin, bucket, prefix)).toEqual([
        `${prefix}docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`,
        `${prefix}docker/registry/v2/repositories/lib/app/_layers/sha256/${hex}/link`,
      ]);
      expect(sha256(await client.getBlob('lib/app', digest))).toBe(digest);
    }
  });

  it('the session listing sweeps a session directory left without its record', async () => {
    const prefix = `c-${randomUUID()}/`;
    const storage = createS3Storage({ client: s3.admin, bucket, prefix });
    const id = randomUUID();
    await storage.uploads.create({ id, repository: 'lib/app', algorithm: 'sha256' });
    const bytes = randomContent(1000).bytes;
    await storage.uploads.append(id, {
      offset: 0,
      body: (async function* () {
        yield bytes;
      })(),
    });
    await storage.uploads.saveHashState(id, { algorithm: 'sha256', offset: 1000, state: new Uint8Array(8) });
    // A process that died while cancelling: the record is gone, the rest is not.
    await purgeRecord(`${prefix}docker/registry/v2/_wharf/uploads/${id}/session`);
    expect((await contents(s3.admin, bucket, prefix)).length).toBeGreaterThan(1);
    const listed: string[] = [];
    for await (const session of storage.uploads.list()) listed.push(session.id);
    expect(listed).toEqual([]);
    expect(await contents(s3.admin, bucket, prefix)).toEqual([]);
  });

  it('a monolithic upload with the wrong digest leaves no multipart upload and no blob', async () => {
    const { client, prefix } = registryOnPrefix();
    const { bytes } = randomContent(20 * MiB);
    const wrong = sha256(Buffer.from('not these bytes'));
    const res = await client.request(
      'POST',
      `/v2/lib/app/blobs/uploads/?digest=${encodeURIComponent(wrong)}`,
      {
        body: bytes,
        headers: { 'Content-Type': 'application/octet-stream' },
      },
    );
    expect(res.status).toBe(400);
    expect(await contents(s3.admin, bucket, prefix)).toEqual([]);
  });
});
