/**
 * `@wharf/storage-s3`: the wharf registry's blob, upload and metadata stores on an S3 bucket, so
 * that any number of stateless registry replicas can share one bucket.
 *
 * @packageDocumentation
 */
import type { EventStore, RegistryStorage } from '@wharf/core';
import { AwsObjectStore } from './objects/aws.js';
import { MinioObjectStore } from './objects/minio.js';
import type { ObjectStore } from './objects/types.js';
import { isAwsClient, resolveOptions, type S3StorageOptions } from './options.js';
import { assemble } from './storage.js';

export type { MinioClientLike } from './objects/minio.js';
export type { S3CacheOptions, S3ClientLike, S3StorageOptions } from './options.js';

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

/** The stores on a bucket, and a `close()` for the shutdown path. */
export interface S3Storage extends RegistryStorage {
  /** The event outbox, under `_wharf/events/`. */
  readonly events: EventStore;
  /**
   * Waits for writes still running behind responses, withdraws this replica's deletion
   * announcement and releases cached state. The client stays open (it belongs to the caller).
   */
  close(): Promise<void>;
}

/**
 * Creates storage on an S3 bucket, laid out like CNCF distribution's (under
 * `<prefix>docker/registry/v2/`). Upload sessions live in the bucket too, so the POST, PATCH and
 * PUT of one push may each reach a different replica. Uses ranged GETs, multipart uploads with
 * `UploadPartCopy`, `ListObjectsV2`, `DeleteObjects` and (when available) conditional
 * `PutObject`; needs strongly consistent listings (AWS S3, Ceph RGW, MinIO). A bad option throws
 * core's `OptionsError` naming it.
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
  const resolved = resolveOptions(options);
  const { client, bucket } = options;
  const store: ObjectStore = isAwsClient(client)
    ? new AwsObjectStore(client, bucket, { signedRequests: resolved.signedRequests })
    : new MinioObjectStore(client, bucket);
  return assemble(store, resolved);
}
