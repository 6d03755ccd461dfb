import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Env } from '@wharf/test-utils';
import { Client as MinioClient } from 'minio';
import { afterAll, beforeAll } from 'vitest';
import { S3_COMPATIBLE_CLIENT_CONFIG } from '../src/index.js';
import { AwsObjectStore } from '../src/objects/aws.js';
import type { ObjectStore } from '../src/objects/types.js';
import { listAll, listAllMultipart, purge } from '../src/writer.js';

export type S3TestEnv = NonNullable<ReturnType<typeof s3Env>>;

/** The S3 endpoint, or `undefined` (tests then skip; under WHARF_E2E_REQUIRED=1 this throws). */
export const env: S3TestEnv | undefined = s3Env();

export function awsClient(e: S3TestEnv): S3Client {
  return new S3Client({
    ...S3_COMPATIBLE_CLIENT_CONFIG,
    endpoint: e.endpoint,
    region: e.region,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    forcePathStyle: true,
  });
}

export function minioClient(e: S3TestEnv): MinioClient {
  const url = new URL(e.endpoint);
  return new MinioClient({
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
    accessKey: e.accessKeyId,
    secretKey: e.secretAccessKey,
    region: e.region,
    pathStyle: true,
  });
}

/** A fresh bucket name (lower case, unique per call). */
export function bucketName(label: string): string {
  return `wharf-${label}-${randomUUID().slice(0, 8)}`;
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Deletes every object and multipart upload in the bucket, then the bucket. */
export async function deleteBucket(client: S3Client, bucket: string): Promise<void> {
  await purge(new AwsObjectStore(client, bucket), '');
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** Removes everything under a prefix (objects and multipart uploads). */
export async function purgePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  await purge(new AwsObjectStore(client, bucket), prefix);
}

/**
 * The cache settings of the tests: deletions wait one and a half leases (see cache/notices.ts), so
 * a short lease keeps suites that delete a lot quick.
 */
export const TEST_CACHE = { lease: 300 } as const;

/**
 * A deleter's announcement (`_wharf/deleting/`) lingers for half a lease after its deletion: it is
 * no data (cache.test.ts checks that it goes).
 */
export function withoutNotices(keys: string[]): string[] {
  return keys.filter((key) => !key.includes('/_wharf/deleting/'));
}

/** Every key under `prefix`, plus `multipart:<key>` for each in-progress multipart upload, sorted. */
export async function contentsOf(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of listAll(store, prefix)) keys.push(object.key);
  for (const upload of await listAllMultipart(store, prefix)) keys.push(`multipart:${upload.key}`);
  return keys.sort();
}

/** {@link contentsOf} a bucket, through an AWS SDK client. */
export function contents(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return contentsOf(new AwsObjectStore(client, bucket), prefix);
}

/** A bucket and an admin client for one `describe` block: created before its tests, removed after. */
export interface TestBucket {
  readonly bucket: string;
  /** An AWS SDK client with full access (available once the block's tests run). */
  readonly admin: S3Client;
}

/** Registers the hooks that create a fresh bucket before a block's tests and delete it after. */
export function useBucket(label: string): TestBucket {
  const bucket = bucketName(label);
  let admin: S3Client | undefined;
  beforeAll(async () => {
    admin = awsClient(env!);
    await createBucket(admin, bucket);
  });
  afterAll(async () => {
    if (!admin) return;
    await deleteBucket(admin, bucket);
    admin.destroy();
  });
  return {
    bucket,
    get admin() {
      if (!admin) throw new Error('the bucket is created before the tests run');
      return admin;
    },
  };
}
