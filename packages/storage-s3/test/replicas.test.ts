import type { S3Client } from '@aws-sdk/client-s3';
import {
  makeImage,
  OciClient,
  randomContent,
  rounds,
  type ServerProcess,
  sha256,
  startServer,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClient, bucketName, createBucket, deleteBucket, env } from './helpers.js';

const MiB = 1024 * 1024;

/** The path and query of a `Location`, to send to another replica. */
function pathOf(location: string): string {
  const url = new URL(location, 'http://replica.invalid');
  return `${url.pathname}${url.search}`;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

async function patch(
  replica: OciClient,
  location: string,
  bytes: Uint8Array,
  offset: number,
): Promise<Response> {
  return replica.request('PATCH', location, {
    body: bytes,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Range': `${offset}-${offset + bytes.byteLength - 1}`,
    },
  });
}

/** A chunked push whose POST, PATCHes and PUT go round-robin over `replicas`; resolves the final response. */
async function pushAcross(
  replicas: OciClient[],
  repo: string,
  bytes: Buffer,
  chunk: number,
): Promise<Response> {
  let location = pathOf(await replicas[0]!.startUpload(repo));
  let turn = 1;
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    const res = await patch(
      replicas[turn++ % replicas.length]!,
      location,
      bytes.subarray(offset, offset + chunk),
      offset,
    );
    const text = await res.text();
    if (res.status !== 202) throw new Error(`PATCH at ${offset}: ${res.status} ${text}`);
    location = pathOf(res.headers.get('location')!);
  }
  return replicas[turn % replicas.length]!.request('PUT', withDigest(location, sha256(bytes)));
}

describe.skipIf(!env)('two registry processes sharing one bucket', () => {
  const bucket = bucketName('replicas');
  let admin: S3Client;
  let servers: ServerProcess[] = [];
  let a: OciClient;
  let b: OciClient;

  beforeAll(async () => {
    admin = awsClient(env!);
    await createBucket(admin, bucket);
    const serverEnv = { WHARF_STORAGE: 's3', S3_BUCKET: bucket, S3_PREFIX: 'shared/registry' };
    servers = await Promise.all([startServer({ env: serverEnv }), startServer({ env: serverEnv })]);
    a = new OciClient(servers[0]!.url);
    b = new OciClient(servers[1]!.url);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await deleteBucket(admin, bucket);
    admin.destroy();
  });

  it('continues one upload across replicas (POST→A, PATCH→B, PATCH→A, PUT→B) and serves it from both', async () => {
    const { bytes, digest } = randomContent(14 * MiB);
    const repo = 'team/app';
    let location = pathOf(await a.startUpload(repo));

    let res = await patch(b, location, bytes.subarray(0, 3 * MiB), 0);
    expect(res.status, await res.text()).toBe(202);
    expect(res.headers.get('range')).toBe(`0-${3 * MiB - 1}`);
    location = pathOf(res.headers.get('location')!);

    res = await patch(a, location, bytes.subarray(3 * MiB, 9 * MiB), 3 * MiB);
    expect(res.status, await res.text()).toBe(202);
    expect(res.headers.get('range')).toBe(`0-${9 * MiB - 1}`);
    location = pathOf(res.headers.get('location')!);

    // Either replica knows where the upload stands; a stale writer is refused on both.
    for (const replica of [a, b]) {
      const status = await replica.request('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${9 * MiB - 1}`);
      const stale = await patch(replica, location, bytes.subarray(3 * MiB, 4 * MiB), 3 * MiB);
      expect(stale.status).toBe(416);
      expect(stale.headers.get('range')).toBe(`0-${9 * MiB - 1}`);
    }

    res = await b.request('PUT', withDigest(location, digest), {
      body: bytes.subarray(9 * MiB),
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${9 * MiB}-${bytes.byteLength - 1}`,
      },
    });
    expect(res.status, await res.text()).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(digest);

    for (const replica of [a, b]) {
      const head = await replica.request('HEAD', `/v2/${repo}/blobs/${digest}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
      expect((await replica.getBlob(repo, digest)).equals(bytes)).toBe(true);
    }
    expect((await a.request('GET', location)).status).toBe(404);

    // A whole image pushed through one replica is pulled intact through the other.
    const image = makeImage({ layers: [6 * MiB, 1000] });
    await b.pushImage(repo, 'v1', image, 'chunked');
    await a.pullImage(repo, 'v1', image);
    expect(await a.tags(repo)).toEqual(['v1']);
  });

  // Six pushers by default, sixteen under WHARF_STRESS=1 (CI runs that on one Node line).
  const pushers = rounds(6, 16);
  it(`lets ${pushers} concurrent chunked pushes of the same blob over both replicas all succeed`, {
    timeout: 300_000,
  }, async () => {
    // Each 32 MiB, staged at once in 8 MiB chunks.
    const { bytes, digest } = randomContent(32 * MiB);
    const repo = 'team/same';
    const results = await Promise.all(
      Array.from({ length: pushers }, async (_, i) => {
        const order = i % 2 === 0 ? [a, b] : [b, a];
        const res = await pushAcross(order, repo, bytes, 8 * MiB);
        const text = await res.text();
        // Right after any 201, the blob is there in full on every replica.
        const heads = await Promise.all(
          [a, b].map(async (replica) => {
            const head = await replica.request('HEAD', `/v2/${repo}/blobs/${digest}`);
            return `${head.status} ${head.headers.get('content-length')}`;
          }),
        );
        return { status: res.status, text, heads };
      }),
    );
    for (const result of results) {
      expect(result.status, result.text).toBe(201);
      expect(result.heads).toEqual([`200 ${bytes.byteLength}`, `200 ${bytes.byteLength}`]);
    }
    expect(sha256(await b.getBlob(repo, digest))).toBe(digest);
  });
});
