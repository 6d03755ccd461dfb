import type { S3Client } from '@aws-sdk/client-s3';
import type { ByteWindow } from '@wharf/core';
import type { S3ClientLike } from '../options.js';
import { statusOf } from './errors.js';
import { SignedRequests } from './signed.js';
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

function rangeHeader(range: ByteWindow): string {
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/** `bucket/key` for `x-amz-copy-source`, URL-encoded except for the slashes. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

function options(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

/**
 * The AWS SDK's S3 module, loaded on first use: an app on the minio client needs no AWS SDK
 * installed, and an app on the SDK gets its own copy (the client's release).
 */
let loading: Promise<typeof import('@aws-sdk/client-s3')> | undefined;
function sdk(): Promise<typeof import('@aws-sdk/client-s3')> {
  loading ??= import('@aws-sdk/client-s3');
  return loading;
}

/** PUTs up to this size take the signed path; larger bodies go through the SDK. */
const SIGNED_PUT_LIMIT = 1024 * 1024;

/** `x-amz-meta-*` response headers as metadata (lower-case keys without the prefix). */
function metadataOf(headers: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-amz-meta-') && value !== undefined) metadata[lower.slice(11)] = value;
  }
  return metadata;
}

/** Options of {@link AwsObjectStore}. */
export interface AwsObjectStoreOptions {
  /** Send HEAD, GET, small PUT and single DELETE requests on the signed path. Default `true`. */
  readonly signedRequests?: boolean;
}

/**
 * {@link ObjectStore} over an AWS SDK v3 `S3Client`. The frequent small requests go out on the
 * signed path (see {@link SignedRequests}) when the client's configuration allows it; everything
 * else, and everything when it does not, through the SDK.
 */
export class AwsObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #client: S3Client;
  #signed: Promise<SignedRequests | null> | undefined;

  /**
   * `client` is the app's, from whichever 3.x release it installed; the commands sent to it are
   * built by the release this package resolves, which for an optional peer dependency is the same.
   */
  constructor(client: S3ClientLike, bucket: string, options: AwsObjectStoreOptions = {}) {
    this.#client = client as S3Client;
    this.bucket = bucket;
    if (options.signedRequests === false) this.#signed = Promise.resolve(null);
  }

  /** The signed path, resolved once from the client's configuration (`null`: use the SDK). */
  #direct(): Promise<SignedRequests | null> {
    this.#signed ??= SignedRequests.forClient(this.#client.config, this.bucket).catch(() => null);
    return this.#signed;
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | null> {
    const direct = await this.#direct();
    if (direct) {
      const res = await direct.send({ method: 'HEAD', key, expect: [404], signal });
      if (res.status === 404) return null;
      const modified = res.headers['last-modified'];
      return {
        size: Number(res.headers['content-length'] ?? 0),
        lastModified: modified ? new Date(modified) : new Date(0),
        metadata: metadataOf(res.headers),
      };
    }
    try {
      const out = await this.#client.send(
        new (await sdk()).HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        options(signal),
      );
      return {
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
        metadata: lowerKeys(out.Metadata ?? {}),
      };
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  async get(key: string, range?: ByteWindow, signal?: AbortSignal): Promise<ObjectBody | null> {
    const direct = await this.#direct();
    if (direct) {
      const res = await direct.send({
        method: 'GET',
        key,
        ...(range ? { headers: { range: rangeHeader(range) } } : {}),
        expect: [404],
        signal,
      });
      return res.status === 404 ? null : (res.body ?? null);
    }
    try {
      const out = await this.#client.send(
        new (await sdk()).GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: rangeHeader(range) } : {}),
        }),
        options(signal),
      );
      return out.Body as unknown as ObjectBody;
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<boolean> {
    const direct = body.byteLength <= SIGNED_PUT_LIMIT ? await this.#direct() : null;
    if (direct) {
      const headers: Record<string, string> = {};
      if (opts.ifNoneMatch) headers['if-none-match'] = '*';
      for (const [name, value] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
      const res = await direct.send({
        method: 'PUT',
        key,
        body,
        headers,
        expect: opts.ifNoneMatch ? [412] : [],
        signal: opts.signal,
      });
      return res.status !== 412;
    }
    try {
      await this.#client.send(
        new (await sdk()).PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(opts.metadata ? { Metadata: { ...opts.metadata } } : {}),
        }),
        options(opts.signal),
      );
      return true;
    } catch (error) {
      if (opts.ifNoneMatch && statusOf(error) === 412) return false;
      throw error;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 1) {
      // A plain DELETE: no request or response body to build and parse.
      const direct = await this.#direct();
      if (direct) await direct.send({ method: 'DELETE', key: keys[0]!, expect: [404] });
      else
        await this.#client.send(new (await sdk()).DeleteObjectCommand({ Bucket: this.bucket, Key: keys[0] }));
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const out = await this.#client.send(
        new (await sdk()).DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Quiet: true, Objects: batch.map((Key) => ({ Key })) },
        }),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        throw new Error(
          `S3 delete failed for ${failed.length} key(s): ${failed[0]?.Code} ${failed[0]?.Message}`,
        );
      }
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const out = await this.#client.send(
      new (await sdk()).ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        ...(opts.delimiter ? { Delimiter: opts.delimiter } : {}),
        ...(opts.startAfter ? { StartAfter: opts.startAfter } : {}),
        ...(opts.token ? { ContinuationToken: opts.token } : {}),
        ...(opts.maxKeys ? { MaxKeys: opts.maxKeys } : {}),
      }),
    );
    return {
      objects: (out.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
      })),
      prefixes: (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])),
      ...(out.IsTruncated && out.NextContinuationToken ? { next: out.NextContinuationToken } : {}),
    };
  }

  async listMultipart(prefix: string, marker?: MultipartRef): Promise<MultipartListResult> {
    const out = await this.#client.send(
      new (await sdk()).ListMultipartUploadsCommand({
        Bucket: this.bucket,
        Prefix: prefix,
        ...(marker ? { KeyMarker: marker.key, UploadIdMarker: marker.uploadId } : {}),
      }),
    );
    const uploads = (out.Uploads ?? []).flatMap((u) =>
      u.Key && u.UploadId
        ? [{ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) }]
        : [],
    );
    const next =
      out.IsTruncated && out.NextKeyMarker
        ? { key: out.NextKeyMarker, uploadId: out.NextUploadIdMarker ?? '' }
        : undefined;
    return next ? { uploads, next } : { uploads };
  }

  async createMultipart(key: string, signal?: AbortSignal): Promise<string> {
    const out = await this.#client.send(
      new (await sdk()).CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
      options(signal),
    );
    if (!out.UploadId) throw new Error('CreateMultipartUpload returned no upload id');
    return out.UploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<string> {
    const out = await this.#client.send(
      new (await sdk()).UploadPartCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.byteLength,
      }),
      options(signal),
    );
    return out.ETag ?? '';
  }

  async copy(source: string, target: string, signal?: AbortSignal): Promise<void> {
    await this.#client.send(
      new (await sdk()).CopyObjectCommand({
        Bucket: this.bucket,
        Key: target,
        CopySource: copySource(this.bucket, source),
      }),
      options(signal),
    );
  }

  async copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: ByteWindow,
    signal?: AbortSignal,
  ): Promise<string> {
    const out = await this.#client.send(
      new (await sdk()).UploadPartCopyCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        CopySource: copySource(this.bucket, source),
        CopySourceRange: rangeHeader(range),
      }),
      options(signal),
    );
    return out.CopyPartResult?.ETag ?? '';
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#client.send(
      new (await sdk()).CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
      options(signal),
    );
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(
        new (await sdk()).AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      // Already gone (aborted or completed elsewhere) is what we wanted.
      if (statusOf(error) !== 404) throw error;
    }
  }

  async presignGet(key: string, expiresIn: number): Promise<string> {
    const [{ GetObjectCommand }, { getSignedUrl }] = await Promise.all([
      sdk(),
      import('@aws-sdk/s3-request-presigner'),
    ]);
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn });
  }
}

function lowerKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}
