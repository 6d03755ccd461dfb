import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type ByteWindow, nodeStreamBody } from '@wharf/core';
import { asBuffer } from '../util.js';
import { S3RequestError } from './errors.js';
import { encodeKey, uriEncode } from './sigv4.js';
import type {
  CompletedPart,
  ListedMultipart,
  ListedObject,
  ListOptions,
  ListResult,
  MultipartListResult,
  MultipartRef,
  ObjectBody,
  ObjectHead,
  ObjectStore,
  PutOptions,
} from './types.js';
import { s3ErrorCode, xmlElements, xmlEscape, xmlValue } from './xml.js';

type Headers = Record<string, string | boolean | number | undefined>;

/**
 * The part of a minio-js (v8) `Client` that the backend uses: its signed request. Every 8.x
 * release has it; the type is spelled out so that this package needs no `minio` installed unless
 * you use it, and so that any 8.x release's `Client` is accepted.
 */
export interface MinioClientLike {
  makeRequestAsync(
    options: { method: string; bucketName?: string; objectName?: string; query?: string; headers?: Headers },
    payload?: Buffer | string,
    expectedCodes?: number[],
    region?: string,
  ): Promise<IncomingMessage>;
  presignedGetObject(bucketName: string, objectName: string, expires?: number): Promise<string>;
}

/**
 * Every status is an answer to makeRequestAsync (it throws only on network errors then, and on 5xx
 * after retrying), so that this adapter decides on statuses itself.
 */
const ANY_STATUS = Array.from({ length: 500 }, (_, i) => i + 100);

/** Reads a response to its end, so its connection goes back to the pool. */
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
  return `/${bucket}/${encodeKey(key)}`;
}

/** A query string of encoded pairs (values already strings; empty ones are left out). */
function query(pairs: Record<string, string | undefined>): string {
  return Object.entries(pairs)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${uriEncode(key)}=${uriEncode(value!)}`)
    .join('&');
}

/**
 * {@link ObjectStore} over a minio-js client. Every request goes through the client's signed
 * `makeRequestAsync` and is judged by its status code and body here, not by the client's error
 * names (which differ between servers) nor by its higher-level methods (which differ between
 * 8.x releases).
 */
export class MinioObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #client: MinioClientLike;

  constructor(client: MinioClientLike, bucket: string) {
    this.#client = client;
    this.bucket = bucket;
  }

  /** One request; resolves the response, or throws an {@link S3RequestError} for any other status than `ok`. */
  async #request(
    options: { method: string; objectName?: string; query?: string; headers?: Headers },
    payload: Buffer | string,
    ok: readonly number[],
  ): Promise<IncomingMessage> {
    const res = await this.#client.makeRequestAsync(
      { ...options, bucketName: this.bucket },
      payload,
      ANY_STATUS,
    );
    const status = res.statusCode ?? 0;
    if (ok.includes(status)) return res;
    const text = await drain(res).catch(() => '');
    const code = s3ErrorCode(text) ?? '';
    throw new S3RequestError(
      status,
      code,
      `S3 ${options.method} ${options.objectName ?? ''} answered ${status} ${code}`,
    );
  }

  /** A request whose 200 body is XML that may still hold an error (copies and completions). */
  async #xml(
    options: { method: string; objectName?: string; query?: string; headers?: Headers },
    payload: Buffer | string = '',
  ): Promise<string> {
    const text = await drain(await this.#request(options, payload, [200]));
    // A copy or a completion can fail after its 200 has been sent: the error is then in the body.
    const code = s3ErrorCode(text);
    if (code !== undefined) throw new S3RequestError(500, code, `S3 ${options.method} failed: ${code}`);
    return text;
  }

  async head(key: string): Promise<ObjectHead | null> {
    const res = await this.#request({ method: 'HEAD', objectName: key }, '', [200, 404]);
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
    const res = await this.#request(
      { method: 'GET', objectName: key, ...(range ? { headers: { range: rangeHeader(range) } } : {}) },
      '',
      [200, 206, 404],
    );
    if (res.statusCode === 404) {
      await drain(res);
      return null;
    }
    return nodeStreamBody(res, signal);
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<boolean> {
    const headers: Headers = {};
    if (opts.ifNoneMatch) headers['if-none-match'] = '*';
    for (const [name, value] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
    const res = await this.#request(
      { method: 'PUT', objectName: key, headers },
      asBuffer(body),
      opts.ifNoneMatch ? [200, 412] : [200],
    );
    await drain(res);
    return res.statusCode === 200;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 1) {
      // A plain DELETE: no request or response body to build and parse.
      await drain(await this.#request({ method: 'DELETE', objectName: keys[0]! }, '', [204, 200, 404]));
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const xml = `<Delete><Quiet>true</Quiet>${batch
        .map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`)
        .join('')}</Delete>`;
      const payload = Buffer.from(xml);
      const text = await drain(
        await this.#request(
          {
            method: 'POST',
            query: 'delete',
            headers: { 'content-md5': createHash('md5').update(payload).digest('base64') },
          },
          payload,
          [200],
        ),
      );
      const failed = xmlElements(text, 'Error')
        .map((error) => xmlValue(error, 'Code') ?? '')
        .filter((code) => code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 delete failed for ${failed.length} key(s): ${failed[0]}`);
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const text = await drain(
      await this.#request(
        {
          method: 'GET',
          query: query({
            'list-type': '2',
            prefix,
            delimiter: opts.delimiter,
            'max-keys': String(opts.maxKeys ?? 1000),
            'continuation-token': opts.token,
            'start-after': opts.token ? undefined : opts.startAfter,
          }),
        },
        '',
        [200],
      ),
    );
    const objects: ListedObject[] = xmlElements(text, 'Contents').map((item) => ({
      key: xmlValue(item, 'Key') ?? '',
      size: Number(xmlValue(item, 'Size') ?? 0),
      lastModified: new Date(xmlValue(item, 'LastModified') ?? 0),
    }));
    const prefixes = xmlElements(text, 'CommonPrefixes').flatMap((item) => {
      const value = xmlValue(item, 'Prefix');
      return value === undefined ? [] : [value];
    });
    const next =
      xmlValue(text, 'IsTruncated') === 'true' ? xmlValue(text, 'NextContinuationToken') : undefined;
    return { objects, prefixes, ...(next ? { next } : {}) };
  }

  async listMultipart(prefix: string, marker?: MultipartRef): Promise<MultipartListResult> {
    const text = await drain(
      await this.#request(
        {
          method: 'GET',
          query: `uploads&${query({ prefix, 'key-marker': marker?.key, 'upload-id-marker': marker?.uploadId })}`,
        },
        '',
        [200],
      ),
    );
    const uploads: ListedMultipart[] = xmlElements(text, 'Upload').map((item) => ({
      key: xmlValue(item, 'Key') ?? '',
      uploadId: xmlValue(item, 'UploadId') ?? '',
      initiated: new Date(xmlValue(item, 'Initiated') ?? 0),
    }));
    const truncated = xmlValue(text, 'IsTruncated') === 'true';
    const nextKey = xmlValue(text, 'NextKeyMarker');
    return truncated && nextKey
      ? { uploads, next: { key: nextKey, uploadId: xmlValue(text, 'NextUploadIdMarker') ?? '' } }
      : { uploads };
  }

  async createMultipart(key: string): Promise<string> {
    const uploadId = xmlValue(
      await this.#xml({ method: 'POST', objectName: key, query: 'uploads' }),
      'UploadId',
    );
    if (!uploadId) throw new Error('CreateMultipartUpload returned no upload id');
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string> {
    const res = await this.#request(
      { method: 'PUT', objectName: key, query: query({ partNumber: String(partNumber), uploadId }) },
      asBuffer(body),
      [200],
    );
    await drain(res);
    return header(res, 'etag') ?? '';
  }

  async copy(source: string, target: string): Promise<void> {
    await this.#xml({
      method: 'PUT',
      objectName: target,
      headers: { 'x-amz-copy-source': copySource(this.bucket, source) },
    });
  }

  async copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: ByteWindow,
  ): Promise<string> {
    const text = await this.#xml({
      method: 'PUT',
      objectName: key,
      query: query({ partNumber: String(partNumber), uploadId }),
      headers: {
        'x-amz-copy-source': copySource(this.bucket, source),
        'x-amz-copy-source-range': rangeHeader(range),
      },
    });
    return xmlValue(text, 'ETag') ?? '';
  }

  async completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    const xml = `<CompleteMultipartUpload>${parts
      .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag></Part>`)
      .join('')}</CompleteMultipartUpload>`;
    await this.#xml({ method: 'POST', objectName: key, query: query({ uploadId }) }, Buffer.from(xml));
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    // 404 too: an upload that is already gone is what we wanted.
    await drain(
      await this.#request(
        { method: 'DELETE', objectName: key, query: query({ uploadId }) },
        '',
        [204, 200, 404],
      ),
    );
  }

  presignGet(key: string, expiresIn: number): Promise<string> {
    return this.#client.presignedGetObject(this.bucket, key, expiresIn);
  }
}
