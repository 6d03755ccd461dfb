/**
 * A large blob pulled through the registry from the real S3 server, read as parallel ranged GETs
 * with both clients: the client gets every byte, in order, whole or in a range.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Storage, type S3StorageOptions } from '../src/index.js';
import { env, minioClient, useBucket } from './helpers.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

describe.skipIf(!env)('large blob pulls as parallel ranged GETs', () => {
  const s3 = useBucket('ranged');
  const bytes = randomBytes(SIZE);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const minio = env ? minioClient(env) : undefined;

  async function serve(client: S3StorageOptions['client']): Promise<{ base: string; server: Server }> {
    const storage = createS3Storage({
      client,
      bucket: s3.bucket,
      prefix: `r-${randomUUID()}/`,
      // parts that do not divide the blob, so the last one is short
      readPartSize: 5 * MiB + 3,
      readPartsInFlight: 4,
      parallelReadThreshold: 8 * MiB,
    });
    const server = createServer(createHandler(createRegistry({ storage })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  }

  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  it.each(['aws', 'minio'] as const)('pulls a 64 MiB blob whole and in a range (%s client)', async (kind) => {
    const { base, server } = await serve(kind === 'aws' ? s3.admin : minio!);
    servers.push(server);
    const pushed = await fetch(`${base}/v2/big/blob/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(SIZE) },
      body: bytes,
    });
    expect(pushed.status).toBe(201);

    const pulled = await fetch(`${base}/v2/big/blob/blobs/${digest}`);
    expect(pulled.status).toBe(200);
    expect(pulled.headers.get('content-length')).toBe(String(SIZE));
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of pulled.body!) {
      hash.update(chunk);
      received += chunk.byteLength;
    }
    expect(received).toBe(SIZE);
    expect(`sha256:${hash.digest('hex')}`).toBe(digest);

    const [start, end] = [5 * MiB - 7, 41 * MiB + 11];
    const ranged = await fetch(`${base}/v2/big/blob/blobs/${digest}`, {
      headers: { Range: `bytes=${start}-${end}` },
    });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(start, end + 1))).toBe(true);
  });
});
