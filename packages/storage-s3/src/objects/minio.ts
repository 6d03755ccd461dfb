import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ByteWindow } from '@wharf/core';
import { asBuffer } from '../util.js';
import type {
  CompletedPart,
  ListOptions,
  ListResult,
  MultipartListResult,
  MultipartRef,
  ObjectBody,
  ObjectHead,
  ObjectStore,
  PutOptions,
} from './types.js';

type Headers = Record<string, string | boolean | number | undefined>;

/**
 * The part of a minio-js (v8) `Client` that the backend uses. A `new Client({...})` from the
 * `minio` package satisfies it; the type is spelled out so that this package does not need
 * `minio` installed unless you use it.
 */
export interface MinioClientLike {
  makeRequestAsync(
    options: { method: string; bucketName?: string; objectName?: string; query?: string; headers?: Headers },
    payload?: Buffer | string,
    expectedCodes?: number[],
    region?: string,
  ): Promise<IncomingMessage>;
  listObjectsV2Query(
    bucketName: string,
    prefix: string,
    continuationToken: string,
    delimiter: string,
    maxKeys: number,
    startAfter: string,
  ): Promise<{
    objects: ReadonlyArray<{ name?: string; prefix?: string; size: number; lastModified?: Date }>;
    isTruncated: boolean;
    nextContinuationToken: string;
  }>;
  listIncompleteUploadsQuery(
    bucketName: string,
    prefix: string,
    keyMarker: string,
    uploadIdMarker: string,
    delimiter: string,
  ): Promise<{
    uploads: ReadonlyArray<{ key: string; uploadId: string; initiated?: Date }>;
    isTruncated: boolean;
    nextKeyMarker: string;
    nextUploadIdMarker: string;
  }>;
  initiateNewMultipartUpload(bucketName: string, objectName: string, headers: Headers): Promise<string>;
  uploadPart(
    partConfig: {
      bucketName: string;
      objectName: string;
      uploadID: string;
      partNumber: number;
      headers: Headers;
    },
    payload?: Buffer | string,
  ): Promise<{ etag: string }>;
  completeMultipartUpload(
    bucketName: string,
    objectName: string,
    uploadId: string,
    etags: { part: number; etag?: string }[],
  ): Promise<unknown>;
  abortMultipartUpload(bucketName: string, objectName: string, uploadId: string): Promise<void>;
  presignedGetObject(bucketName: string, objectName: string, expires?: number): Promise<string>;
}

/** Reads and discards a response, so its connection goes back to the pool. */
async function drain(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function rangeHeader(range: ByteWindow): string {
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/** `/bucket/key` for `x-amz-copy-source`, URL-encoded except for the slashes. */
function copySource(bucket: string, key: string): string {
  return `/${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * {@link ObjectStore} over a minio-js client. Plain object requests go through the client's
 * signed `makeRequestAsync`, so that status codes (404, 412) are checked directly rather than
 * through error names, which differ between servers.
 */
export class MinioObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #client: MinioClientLike;

  constructor(client: MinioClientLike, bucket: string) {
    this.#client = client;
    this.bucket = bucket;
  }

  async head(key: string): Promise<ObjectHead | null> {
    const res = await this.#client.makeRequestAsync(
      { method: 'HEAD', bucketName: this.bucket, objectName: key },
      '',
      [200, 404],
    );
    await drain(res);
    if (res.statusCode === 404) return null;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
    }
    const modified = header(res, 'last-modified');
    return {
      size: Number(header(res, 'content-length') ?? 0),
      lastModified: modified ? new Date(modified) : new Date(0),
      metadata,
    };
  }

  async get(key: string, range?: ByteWindow, signal?: AbortSignal): Promise<ObjectBody | null> {
    const res = await this.#client.makeRequestAsync(
      {
        method: 'GET',
        bucketName: this.bucket,
        objectName: key,
        ...(range ? { headers: { range: rangeHeader(range) } } : {}),
      },
      '',
      [200, 206, 404],
    );
    if (res.statusCode === 404) {
      await drain(res);
      return null;
    }
    if (signal) {
      const onAbort = (): void => {
        res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        res.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return res;
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<boolean> {
    const headers: Headers = {};
    if (opts.ifNoneMatch) headers['if-none-match'] = '*';
    for (const [name, value] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
    const res = await this.#client.makeRequestAsync(
      { method: 'PUT', bucketName: this.bucket, objectName: key, headers },
      asBuffer(body),
      opts.ifNoneMatch ? [200, 412] : [200],
    );
    await drain(res);
    return res.statusCode === 200;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 1) {
      // A plain DELETE: no request or response body to build and parse.
      const res = await this.#client.makeRequestAsync(
        { method: 'DELETE', bucketName: this.bucket, objectName: keys[0] },
        '',
        [204, 200, 404],
      );
      await drain(res);
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const xml = `<Delete><Quiet>true</Quiet>${batch
        .map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`)
        .join('')}</Delete>`;
      const payload = Buffer.from(xml);
      const res = await this.#client.makeRequestAsync(
        {
          method: 'POST',
          bucketName: this.bucket,
          query: 'delete',
          headers: { 'content-md5': createHash('md5').update(payload).digest('base64') },
        },
        payload,
        [200],
      );
      const text = await drain(res);
      const error = /<Error>[\s\S]*?<Code>([^<]*)<\/Code>[\s\S]*?<\/Error>/.exec(text);
      if (error && error[1] !== 'NoSuchKey') throw new Error(`S3 delete failed: ${error[1]}`);
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const out = await this.#client.listObjectsV2Query(
      this.bucket,
      prefix,
      opts.token ?? '',
      opts.delimiter ?? '',
      opts.maxKeys ?? 1000,
      opts.startAfter ?? '',
    );
    const objects = [];
    const prefixes = [];
    for (const item of out.objects) {
      if (item.prefix !== undefined) prefixes.push(item.prefix);
      else if (item.name !== undefined)
        objects.push({ key: item.name, size: item.size, lastModified: item.lastModified ?? new Date(0) });
    }
    return {
      objects,
      prefixes,
      ...(out.isTruncated && out.nextContinuationToken ? { next: out.nextContinuationToken } : {}),
    };
  }

  async listMultipart(prefix: string, marker?: MultipartRef): Promise<MultipartListResult> {
    const out = await this.#client.listIncompleteUploadsQuery(
      this.bucket,
      prefix,
      marker?.key ?? '',
      marker?.uploadId ?? '',
      '',
    );
    const uploads = out.uploads.map((u) => ({
      key: u.key,
      uploadId: u.uploadId,
      initiated: u.initiated ?? new Date(0),
    }));
    return out.isTruncated && out.nextKeyMarker
      ? { uploads, next: { key: out.nextKeyMarker, uploadId: out.nextUploadIdMarker } }
      : { uploads };
  }

  createMultipart(key: string): Promise<string> {
    return this.#client.initiateNewMultipartUpload(this.bucket, key, {});
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string> {
    const out = await this.#client.uploadPart(
      { bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber, headers: {} },
      asBuffer(body),
    );
    return out.etag;
  }

  async copy(source: string, target: string): Promise<void> {
    const res = await this.#client.makeRequestAsync(
      {
        method: 'PUT',
        bucketName: this.bucket,
        objectName: target,
        headers: { 'x-amz-copy-source': copySource(this.bucket, source) },
      },
      '',
      [200],
    );
    // A copy can fail after its 200 has been sent: the error is then in the body.
    const text = await drain(res);
    const error = /<Error>[\s\S]*?<Code>([^<]*)<\/Code>/.exec(text);
    if (error) throw new Error(`S3 copy failed: ${error[1]}`);
  }

  async copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: ByteWindow,
  ): Promise<string> {
    const out = await this.#client.uploadPart({
      bucketName: this.bucket,
      objectName: key,
      uploadID: uploadId,
      partNumber,
      headers: {
        'x-amz-copy-source': copySource(this.bucket, source),
        'x-amz-copy-source-range': rangeHeader(range),
      },
    });
    return out.etag;
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    await this.#client.completeMultipartUpload(
      this.bucket,
      key,
      uploadId,
      parts.map((p) => ({ part: p.partNumber, etag: p.etag })),
    );
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    // Expect 404 too: an upload that is already gone is what we wanted.
    const res = await this.#client.makeRequestAsync(
      {
        method: 'DELETE',
        bucketName: this.bucket,
        objectName: key,
        query: `uploadId=${encodeURIComponent(uploadId)}`,
      },
      '',
      [204, 200, 404],
    );
    await drain(res);
  }

  presignGet(key: string, expiresIn: number): Promise<string> {
    return this.#client.presignedGetObject(this.bucket, key, expiresIn);
  }
}
