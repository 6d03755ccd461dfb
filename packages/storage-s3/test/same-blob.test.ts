/**
 * Many clients pushing the same blob at once, through one registry process over real sockets: every
 * push succeeds and the bytes are copied into the blob key once, never by two multipart
 * completions at a time (Ceph RGW keeps the parts of a completion that overlaps another on the same
 * key on disk for good, so concurrent identical pushes used to fill the cluster until it blocked
 * every write).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { createRegistry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { awsClient, bucketName, contents, createBucket, deleteBucket, env } from './helpers.js';

const MiB = 1024 * 1024;

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

function send(
  agent: Agent,
  base: URL,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: { ...headers, 'content-length': String(body?.byteLength ?? 0) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What the registry asked of the bucket, per object key. */
class Requests {
  /** CreateMultipartUpload and CopyObject per key: how often an object was assembled. */
  readonly assembled = new Map<string, number>();
  /** The most completions (CompleteMultipartUpload, CopyObject) of one key that overlapped. */
  maxOverlap = 0;
  readonly #completing = new Map<string, number>();

  watch(client: S3Client): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        const command = context.commandName;
        if (command === 'CreateMultipartUploadCommand' || command === 'CopyObjectCommand')
          this.assembled.set(key, (this.assembled.get(key) ?? 0) + 1);
        const completes = command === 'CompleteMultipartUploadCommand' || command === 'CopyObjectCommand';
        if (!completes) return next(args);
        const now = (this.#completing.get(key) ?? 0) + 1;
        this.#completing.set(key, now);
        this.maxOverlap = Math.max(this.maxOverlap, now);
        try {
          return await next(args);
        } finally {
          this.#completing.set(key, this.#completing.get(key)! - 1);
        }
      },
      { step: 'initialize', name: 'countRequests' },
    );
  }

  /** How often the blob key of `digest` was assembled. */
  assemblies(digest: string): number {
    const hex = digest.slice('sha256:'.length);
    const suffix = `/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    let count = 0;
    for (const [key, n] of this.assembled) if (key.endsWith(suffix)) count += n;
    return count;
  }
}

describe.skipIf(!env)('many concurrent pushes of the same blob into one registry', () => {
  const bucket = bucketName('same');
  const prefix = `same-${randomUUID()}/`;
  let admin: S3Client;
  let client: S3Client;
  let server: Server;
  let base: URL;
  let agent: Agent;
  const requests = new Requests();

  beforeAll(async () => {
    admin = awsClient(env!);
    client = awsClient(env!);
    requests.watch(client);
    await createBucket(admin, bucket);
    const registry = createRegistry({ storage: createS3Storage({ client, bucket, prefix }) });
    server = createServer(createHandler(registry));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    agent = new Agent({ keepAlive: true, maxSockets: 32 });
  });

  afterAll(async () => {
    agent?.destroy();
    await new Promise((resolve) => server?.close(resolve));
    await deleteBucket(admin, bucket);
    client?.destroy();
    admin?.destroy();
  });

  /** Nothing of any upload session is left, and no multipart upload is pending. */
  async function expectNoUploadLeft(): Promise<void> {
    const left = await contents(admin, bucket, prefix);
    expect(left.filter((key) => key.startsWith('multipart:') || key.includes('/_wharf/uploads/'))).toEqual(
      [],
    );
  }

  it('lets 12 chunked pushes whose closing PUTs arrive together all succeed, composing the blob once', {
    timeout: 180_000,
  }, async () => {
    // Two 6 MiB chunks: the commit is a server-side multipart concatenation.
    requests.maxOverlap = 0;
    const bytes = randomBytes(12 * MiB);
    const digest = sha256(bytes);
    const clients = 12;
    let patched = 0;
    let release!: () => void;
    const allPatched = new Promise<void>((resolve) => {
      release = resolve;
    });
    const results = await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        const repo = `same/r${i % 4}`;
        const post = await send(agent, base, 'POST', `/v2/${repo}/blobs/uploads/`);
        expect(post.status).toBe(202);
        let location = String(post.headers.location);
        for (let offset = 0; offset < bytes.byteLength; offset += 6 * MiB) {
          const chunk = bytes.subarray(offset, offset + 6 * MiB);
          const patch = await send(agent, base, 'PATCH', location, chunk, {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${offset + chunk.byteLength - 1}`,
          });
          expect(patch.status, patch.body.toString()).toBe(202);
          location = String(patch.headers.location);
        }
        if (++patched === clients) release();
        await allPatched;
        const put = await send(
          agent,
          base,
          'PUT',
          `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`,
        );
        const head = await send(agent, base, 'HEAD', `/v2/${repo}/blobs/${digest}`);
        return {
          put: put.status,
          text: put.body.toString(),
          head: head.status,
          length: head.headers['content-length'],
        };
      }),
    );
    for (const result of results) {
      expect(result.put, result.text).toBe(201);
      expect(result).toMatchObject({ head: 200, length: String(bytes.byteLength) });
    }
    const pulled = await send(agent, base, 'GET', `/v2/same/r0/blobs/${digest}`);
    expect(sha256(pulled.body)).toBe(digest);
    expect(requests.assemblies(digest)).toBe(1);
    expect(requests.maxOverlap).toBe(1);
    await expectNoUploadLeft();
  });

  it('lets 8 monolithic pushes of one multi-part blob all succeed, completing one at a time', {
    timeout: 180_000,
  }, async () => {
    // Larger than a part: each push streams into a multipart upload of the blob key.
    requests.maxOverlap = 0;
    const bytes = randomBytes(20 * MiB);
    const digest = sha256(bytes);
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const repo = `mono/r${i % 4}`;
        const post = await send(
          agent,
          base,
          'POST',
          `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
          bytes,
          { 'content-type': 'application/octet-stream' },
        );
        const head = await send(agent, base, 'HEAD', `/v2/${repo}/blobs/${digest}`);
        return {
          post: post.status,
          text: post.body.toString(),
          head: head.status,
          length: head.headers['content-length'],
        };
      }),
    );
    for (const result of results) {
      expect(result.post, result.text).toBe(201);
      expect(result).toMatchObject({ head: 200, length: String(bytes.byteLength) });
    }
    expect(sha256((await send(agent, base, 'GET', `/v2/mono/r1/blobs/${digest}`)).body)).toBe(digest);
    expect(requests.maxOverlap).toBe(1);
    await expectNoUploadLeft();
  });
});
