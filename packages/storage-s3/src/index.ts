/**
 * `@wharf/storage-s3`: the wharf registry's blob, upload and metadata stores on an S3 bucket, so
 * that any number of stateless registry replicas can share one bucket.
 *
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { RegistryStorage } from '@wharf/core';
import { S3BlobStore } from './blob-store.js';
import { Keys } from './keys.js';
import { S3MetadataStore } from './metadata-store.js';
import { AwsObjectStore } from './objects/aws.js';
import { type MinioClientLike, MinioObjectStore } from './objects/minio.js';
import type { ObjectStore } from './objects/types.js';
import { S3EventStore } from './outbox.js';
import { S3UploadStore } from './upload-store.js';
import { KeyedLock } from './util.js';
import { BufferPool, MIN_PART_SIZE } from './writer.js';

export { S3BlobStore } from './blob-store.js';
export { S3MetadataStore } from './metadata-store.js';
export type { MinioClientLike } from './objects/minio.js';
export { S3EventStore } from './outbox.js';
export { S3UploadStore } from './upload-store.js';

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
}

/** The stores on a bucket, and a `close()` for the shutdown path. */
export interface S3Storage extends RegistryStorage {
  readonly blobs: S3BlobStore;
  readonly uploads: S3UploadStore;
  readonly metadata: S3MetadataStore;
  /** The event outbox, under `_wharf/events/`. */
  readonly events: S3EventStore;
  /** Releases cached state. The client stays open (it belongs to the caller). */
  close(): Promise<void>;
}

/** Parts of one streaming write uploading at once: two keep the link to the server busy. */
const PARTS_IN_FLIGHT = 2;

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
  const minPartSize = options.minPartSize ?? MIN_PART_SIZE;
  const partSize = Math.max(options.partSize ?? 8 * 1024 * 1024, minPartSize);
  const maxParts = options.maxParts ?? 10_000;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  if (!options.bucket) throw new TypeError('createS3Storage: bucket is required');
  if (!Number.isSafeInteger(partSize) || !Number.isSafeInteger(minPartSize) || minPartSize < 1)
    throw new TypeError('createS3Storage: part sizes must be positive integers');
  if (!Number.isSafeInteger(maxParts) || maxParts < 2)
    throw new TypeError('createS3Storage: maxParts must be at least 2');

  const store: ObjectStore = isAwsClient(options.client)
    ? new AwsObjectStore(options.client, options.bucket)
    : new MinioObjectStore(options.client, options.bucket);
  const keys = new Keys(options.prefix ?? '');
  const { redirect } = options;
  const buffers = new BufferPool(partSize);
  const completions = new KeyedLock();
  const blobs = new S3BlobStore(store, keys, {
    buffers,
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
    redirect: redirect ? { expiresIn: typeof redirect === 'object' ? redirect.expiresIn : undefined } : false,
  });
  const uploads = new S3UploadStore(store, keys, {
    buffers,
    minPartSize,
    maxParts,
    concurrency,
    conditionalWrites: options.conditionalWrites ?? 'auto',
    partsInFlight: PARTS_IN_FLIGHT,
    completions,
  });
  const metadata = new S3MetadataStore(store, keys);
  return {
    blobs,
    uploads,
    metadata,
    events: new S3EventStore(store, keys.root, options.conditionalWrites !== false),
    async close() {
      uploads.clear();
    },
  };
}
