// Baseline: what this machine's S3 server does for one client without a registry in between, with
// the AWS SDK as an application would use it. `PUT /upload?digest=sha256:<hex>` streams the body
// into a multipart upload of `raw/<hex>` (8 MiB parts, two uploading while the next fills, sha256
// as it arrives); `GET /blob/<hex>` streams one GetObject. Bucket from argv[2], server and
// credentials from S3_*.
import { createHash } from 'node:crypto';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

const bucket = process.argv[2]!;
const PART = 8 * 1024 * 1024;
const IN_FLIGHT = 2;
const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.S3_REGION ?? 'us-east-1',
  credentials: {
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
  },
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) },
});

/** Streams a request body into a multipart upload under `key`; resolves the body's sha256 (hex). */
async function upload(body: AsyncIterable<Buffer>, key: string): Promise<string> {
  const hash = createHash('sha256');
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: { PartNumber: number; ETag: string }[] = [];
  const inflight = new Set<Promise<void>>();
  const send = (bytes: Buffer): void => {
    const PartNumber = parts.length + 1;
    parts.push({ PartNumber, ETag: '' });
    const done = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber,
          Body: bytes,
          ContentLength: bytes.byteLength,
        }),
      )
      .then((out) => {
        parts[PartNumber - 1] = { PartNumber, ETag: out.ETag ?? '' };
      });
    const tracked = done.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  };
  try {
    let fill = Buffer.allocUnsafe(PART);
    let filled = 0;
    for await (const chunk of body) {
      hash.update(chunk);
      let position = 0;
      while (position < chunk.byteLength) {
        const n = Math.min(PART - filled, chunk.byteLength - position);
        chunk.copy(fill, filled, position, position + n);
        filled += n;
        position += n;
        if (filled === PART) {
          while (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
          send(fill);
          fill = Buffer.allocUnsafe(PART);
          filled = 0;
        }
      }
    }
    if (filled > 0 || parts.length === 0) send(fill.subarray(0, filled));
    await Promise.all(inflight);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return hash.digest('hex');
  } catch (error) {
    await Promise.allSettled(inflight);
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }))
      .catch(() => {});
    throw error;
  }
}

const server = createServer(async (req, res) => {
  try {
    if (req.method === 'PUT') {
      const url = new URL(req.url ?? '/', 'http://raw');
      const expected = /^sha256:([0-9a-f]{64})$/.exec(url.searchParams.get('digest') ?? '')?.[1];
      if (!expected) {
        res.writeHead(400, { 'Content-Length': '0' }).end();
        return;
      }
      const hex = await upload(req, `raw/${expected}`);
      if (hex !== expected) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `raw/${expected}` }));
        res.writeHead(400, { 'Content-Length': '0' }).end();
        return;
      }
      res.writeHead(201, { 'Docker-Content-Digest': `sha256:${hex}`, 'Content-Length': '0' }).end();
      return;
    }
    const hex = /^\/blob\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    if (req.method !== 'GET' || !hex) {
      res.writeHead(404, { 'Content-Length': '0' }).end();
      return;
    }
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `raw/${hex}` }));
    res.writeHead(200, {
      'Content-Length': String(out.ContentLength ?? 0),
      'Content-Type': 'application/octet-stream',
    });
    await pipeline(out.Body as NodeJS.ReadableStream, res);
  } catch (error) {
    if (!res.headersSent) res.writeHead(500, { 'Content-Length': '0' }).end();
    else res.destroy(error as Error);
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(`raw listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => process.exit(0));
