import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Storage, S3_COMPATIBLE_CLIENT_CONFIG } from '@wharf/storage-s3';
import type { ServerConfig } from './config.js';
import type { ServerStorage } from './storage.js';

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** Creates the bucket unless it exists (several replicas may start at once). */
async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    // Another replica created it first.
    if (statusOf(error) !== 409) throw error;
  }
}

/** S3 storage from the `S3_*` settings; the bucket is created when missing. */
export async function createS3StorageFromConfig(config: ServerConfig): Promise<ServerStorage> {
  const { s3 } = config;
  const client = new S3Client({
    ...S3_COMPATIBLE_CLIENT_CONFIG,
    // Every blob pull streams through one connection; the SDK's default of 50 would let many
    // slow pulls starve every other request.
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 512 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 512 }),
    },
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.accessKeyId && s3.secretAccessKey
      ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
      : {}),
  });
  try {
    await ensureBucket(client, s3.bucket);
  } catch (error) {
    client.destroy();
    throw error;
  }
  const storage = createS3Storage({ client, bucket: s3.bucket, prefix: s3.prefix, redirect: s3.redirect });
  return {
    storage,
    async close() {
      await storage.close();
      client.destroy();
    },
  };
}
