/**
 * `@wharf/storage-s3`: the wharf registry's blob, upload and metadata stores on an S3 bucket, so
 * that any number of stateless registry replicas can share one bucket.
 *
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { RegistryStorage } from '@wharf/core';
import { AwsObjectStore } from './objects/aws.js';
import { type MinioClientLike, MinioObjectStore } from './objects/minio.js';
import type { ObjectStore } from './objects/types.js';
import { storageOn } from './storage.js';

export type { MinioClientLike } from './objects/minio.js';

/**
 * AWS SDK v3 client settings for S3-compatible servers: the SDK's default flexible checksums make
 * some servers (Ceph RGW among them) reject uploads. Spread into `new S3Client({...})`.
 *
 * @example
 * ```ts
 * const client = new S3Client({ ...S3_COMPATIBLE_CLIENT_CONFIG, endpoint, region, forcePathStyle: true });
 * ```
 */
export const S3_COMPATIBLE_CLIENT_CONFIG = {
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
} as const;

/** Options of {@link createS3Storage}. */
export interface S3StorageOptions {
  /**
   * The client: an `@aws-sdk/client-s3` `S3Client` (configure it with
   * {@link S3_COMPATIBLE_CLIENT_CONFIG} for servers other than AWS) or a `minio` `Client`. The
   * storage never closes it.
   */
  readonly client: S3Client | MinioClientLike;
  /** The bucket; it must exist. */
  readonly bucket: string;
  /** A key prefix inside the bucket (`a/b` and `a/b/` are the same), default none. */
  readonly prefix?: string;
  /**
   * Answer blob GETs with a `307` to a presigned URL instead of streaming the bytes through the
   * registry. `expiresIn` (seconds) overrides the registry's `redirectExpiresIn`. Default `false`.
   */
  readonly redirect?: boolean | { readonly expiresIn?: number };
  /**
   * Bytes per multipart-upload part when streaming blobs and chunks into the bucket. Each write in
   * progress holds up to three times this in memory (two parts uploading, one filling). Default
   * 8 MiB; at least `minPartSize`.
   */
  readonly partSize?: number;
  /** The server's smallest multipart part (except the last). Default 5 MiB, as on AWS. */
  readonly minPartSize?: number;
  /** The server's largest number of parts per multipart upload. Default 10 000, as on AWS. */
  readonly maxParts?: number;
  /** Requests one operation (a commit's part copies, listings) runs in parallel. Default 8. */
  readonly concurrency?: number;
  /**
   * How racing chunk writers are told apart. `true`: `PutObject` with `If-None-Match: *` (one
   * request, exact). `false`: a marker-and-list protocol for servers without conditional writes
   * (at most one racer wins, but racers may all lose and retry; a crash at the wrong moment
   * leaves that upload unable to grow). `'auto'` (default): probe the server once.
   */
  readonly conditionalWrites?: boolean | 'auto';
  /**
   * AWS SDK clients only: send the frequent small requests (HEAD, GET, PUTs up to 1 MiB, single
   * DELETEs) signed by wharf through the client's own request handler, skipping the SDK's command
   * stack, which costs several times more CPU than the rest of such a request. The client's
   * credentials, region, endpoint rules, agents and TLS settings still apply; its middleware does
   * not see these requests. `false` sends everything through `client.send`. Default `true`.
   */
  readonly signedRequests?: boolean;
  /**
   * Keep what only a deletion changes in memory: blob sizes, blob links, manifest revisions (with
   * their media types), so that a HEAD of a blob or a GET of a manifest by digest needs no S3
   * request. Replicas sharing the bucket stay correct: each deletion is announced in the bucket
   * (`_wharf/deleting/`) and waits until every replica has either seen the announcement or
   * stopped answering from memory, which takes `lease` plus half of it (deletes are that much
   * slower). Every program deleting from the bucket must be a wharf replica with the cache on: turn
   * it off when another one (distribution's garbage collector, a lifecycle rule) deletes there.
   * `lease` in milliseconds, default 2000; `entries`, default 100 000. Default `true`.
   */
  readonly cache?: boolean | { readonly lease?: number; readonly entries?: number };
  /**
   * Answer a tag read here again for up to this many milliseconds without asking the bucket. A tag
   * moved by another replica is then seen up to this late. Default 0: tags are never served stale.
   */
  readonly tagCacheTtl?: number;
}

/** The three stores on a bucket, and a `close()` for the shutdown path. */
export interface S3Storage extends RegistryStorage {
  /** Releases cached state. The client stays open (it belongs to the caller). */
  close(): Promise<void>;
}

function isAwsClient(client: S3Client | MinioClientLike): client is S3Client {
  return typeof (client as Partial<S3Client>).send === 'function' && !('makeRequestAsync' in client);
}

/**
 * Creates storage on an S3 bucket, laid out like CNCF distribution's (under
 * `<prefix>docker/registry/v2/`). Upload sessions live in the bucket too, so the POST, PATCH and
 * PUT of one push may each reach a different replica. Uses ranged GETs, multipart uploads with
 * `UploadPartCopy`, `ListObjectsV2`, `DeleteObjects` and (when available) conditional
 * `PutObject`; needs strongly consistent listings (AWS S3, Ceph RGW, MinIO).
 *
 * @example
 * ```ts
 * import { S3Client } from '@aws-sdk/client-s3';
 * import { createRegistry } from '@wharf/core';
 * import { createS3Storage, S3_COMPATIBLE_CLIENT_CONFIG } from '@wharf/storage-s3';
 *
 * const client = new S3Client({ ...S3_COMPATIBLE_CLIENT_CONFIG, region: 'us-east-1' });
 * const registry = createRegistry({ storage: createS3Storage({ client, bucket: 'registry' }) });
 * ```
 */
export function createS3Storage(options: S3StorageOptions): S3Storage {
  if (!options.bucket) throw new TypeError('createS3Storage: bucket is required');
  const store: ObjectStore = isAwsClient(options.client)
    ? new AwsObjectStore(options.client, options.bucket, { signedRequests: options.signedRequests ?? true })
    : new MinioObjectStore(options.client, options.bucket);
  return storageOn(store, options);
}
