import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { S3Client } from '@aws-sdk/client-s3';
import { createRegistry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { STRESS } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { awsClient, bucketName, createBucket, deleteBucket, env, purgePrefix } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** What the registry may add to the process while a push streams through it. */
const RSS_BUDGET = 64 * MiB;
/** What the registry may leave on the JavaScript heap after a push (a leak per request shows). */
const HEAP_BUDGET = 16 * MiB;

/**
 * A full garbage collection. Left to itself, V8 lets garbage pile up by amounts that depend on
 * when its collections happen to run and on the CPU left to them: under load, a push once grew
 * the process by 67 MiB of garbage the registry no longer held. The tests collect at a steady pace
 * while they sample, so that RSS shows what the registry holds (and what the allocator keeps).
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
/** How often the tests collect garbage while a push streams. */
const COLLECT_EVERY_MS = 100;

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request whose body, if any, is written piece by piece with backpressure. */
function send(
  agent: Agent,
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: () => Generator<Buffer>,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: base.hostname, port: base.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (!body) {
      req.end();
      return;
    }
    const pieces = body();
    const pump = (): void => {
      for (;;) {
        const next = pieces.next();
        if (next.done) {
          req.end();
          return;
        }
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

const PIECE = 64 * 1024;
/**
 * The client's piece buffers, reused: `send` writes a piece only after the previous one was
 * flushed (one is pending at most), and fresh buffers would be garbage in this same process,
 * counted in the RSS that is meant to measure the registry.
 */
const ring = Array.from({ length: 4 }, () => Buffer.allocUnsafe(PIECE));

/**
 * Pushes `size` fresh random bytes as PATCHes of `chunk` bytes, generated piece by piece (never
 * held whole), and resolves the digest after the 201. With `chunk === size`, one streamed PATCH.
 */
async function chunkedPush(
  agent: Agent,
  base: URL,
  repo: string,
  size: number,
  chunk: number,
): Promise<string> {
  const hash = createHash('sha256');
  let res = await send(agent, base, 'POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': '0' });
  expect(res.status).toBe(202);
  let location = String(res.headers.location);
  for (let offset = 0; offset < size; offset += chunk) {
    const length = Math.min(chunk, size - offset);
    const pieces = function* (): Generator<Buffer> {
      for (let sent = 0, i = 0; sent < length; sent += PIECE, i++) {
        const piece = randomFillSync(ring[i % ring.length]!.subarray(0, Math.min(PIECE, length - sent)));
        hash.update(piece);
        yield piece;
      }
    };
    // A chunk as large as the blob is sent the way docker does: no length, no range.
    const headers: Record<string, string> =
      length === size
        ? { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }
        : {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${offset}-${offset + length - 1}`,
          };
    res = await send(agent, base, 'PATCH', location, headers, pieces);
    expect(res.status, res.body).toBe(202);
    location = String(res.headers.location);
  }
  const digest = `sha256:${hash.digest('hex')}`;
  res = await send(agent, base, 'PUT', `${location}?digest=${encodeURIComponent(digest)}`, {
    'content-length': '0',
  });
  expect(res.status, res.body).toBe(201);
  return digest;
}

/** Streams a blob back through the registry and hashes it. */
function pullDigest(
  agent: Agent,
  base: URL,
  repo: string,
  digest: string,
): Promise<{ digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, path: `/v2/${repo}/blobs/${digest}` },
      (res) => {
        const hash = createHash('sha256');
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.byteLength;
        });
        res.on('end', () => resolve({ digest: `sha256:${hash.digest('hex')}`, size }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!env)('memory while large blobs stream into S3', () => {
  const bucket = bucketName('memory');
  let admin: S3Client;
  let server: Server;
  let base: URL;
  let agent: Agent;
  const prefix = `m-${randomUUID()}/`;

  beforeAll(async () => {
    admin = awsClient(env!);
    await createBucket(admin, bucket);
    const registry = createRegistry({ storage: createS3Storage({ client: admin, bucket, prefix }) });
    server = createServer(createHandler(registry));
    server.requestTimeout = 0;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // Warm up code paths, connection pools and part buffers before measuring.
    await chunkedPush(agent, base, 'warm/up', 24 * MiB, 8 * MiB);
    await chunkedPush(agent, base, 'warm/up', 12 * MiB, MiB);
  });

  afterAll(async () => {
    agent?.destroy();
    await new Promise((resolve) => server?.close(resolve));
    await deleteBucket(admin, bucket);
    admin.destroy();
  });

  // 256 MiB is already four times the RSS budget; the full gibibyte under `WHARF_STRESS=1`.
  const large = STRESS ? GiB : 256 * MiB;
  const cases = [
    { name: `${large / MiB} MiB sent as 8 MiB PATCHes`, size: large, chunk: 8 * MiB },
    { name: `${large / MiB} MiB sent as 1 MiB PATCHes`, size: large, chunk: MiB },
    // A naive store buffering a chunk before writing it would hold all of it here.
    { name: '256 MiB sent as one PATCH without a length', size: 256 * MiB, chunk: 256 * MiB },
  ];
  for (const { name, size, chunk } of cases) {
    it(`commits ${name}, RSS growing less than 64 MiB`, { timeout: 600_000 }, async () => {
      const repo = `big/${chunk}`;
      collect();
      const { heapUsed: heap, rss: baseline } = process.memoryUsage();
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      const collector = setInterval(collect, COLLECT_EVERY_MS);
      let digest: string;
      try {
        digest = await chunkedPush(agent, base, repo, size, chunk);
      } finally {
        clearInterval(sampler);
        clearInterval(collector);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(peak - baseline, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`).toBeLessThan(
        RSS_BUDGET,
      );
      collect();
      const kept = process.memoryUsage().heapUsed - heap;
      expect(kept, `the heap kept ${(kept / MiB).toFixed(1)} MiB`).toBeLessThan(HEAP_BUDGET);

      const head = await send(agent, base, 'HEAD', `/v2/${repo}/blobs/${digest}`, {});
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(size));
      expect(await pullDigest(agent, base, repo, digest)).toEqual({ digest, size });
      // Free the server's memory for what follows.
      await purgePrefix(admin, bucket, prefix);
    });
  }
});
