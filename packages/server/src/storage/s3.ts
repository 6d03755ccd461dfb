import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Storage, S3_COMPATIBLE_CLIENT_CONFIG } from '@wharf/storage-s3';
import type { StorageSettings } from '../config/settings.js';
import type { ServerStorage } from './index.js';

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * What went wrong reaching the bucket, for an operator: a HEAD's error has no body, so the SDK can
 * only say `UnknownError`; the status says more.
 */
function bucketProblem(bucket: string, endpoint: string | undefined, error: unknown): string {
  const status = statusOf(error);
  const where = `bucket "${bucket}"${endpoint ? ` at ${endpoint}` : ''}`;
  if (status === 403) return `${where}: access denied (403); check the access key, secret key and region`;
  if (status === 301 || status === 400) return `${where}: refused (${status}); check the region and endpoint`;
  const reason = error instanceof Error ? error.message || error.name : String(error);
  return `${where}: ${status ? `status ${status}, ` : ''}${reason}`;
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

/** S3 storage from the settings; the bucket is created when missing. */
export async function createS3StorageFromSettings(
  s3: Extract<StorageSettings, { driver: 's3' }>,
): Promise<ServerStorage> {
  const client = new S3Client({
    ...S3_COMPATIBLE_CLIENT_CONFIG,
    // Every blob pull streams through one connection; the SDK's default of 50 would let many
    // slow pulls starve every other request.
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 512 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 512, rejectUnauthorized: !s3.skipVerify }),
    },
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    useDualstackEndpoint: s3.dualStack,
    useAccelerateEndpoint: s3.accelerate,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.accessKey && s3.secretKey
      ? {
          credentials: {
            accessKeyId: s3.accessKey,
            secretAccessKey: s3.secretKey,
            ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}),
          },
        }
      : {}),
  });
  try {
    await ensureBucket(client, s3.bucket);
  } catch (error) {
    client.destroy();
    throw new Error(bucketProblem(s3.bucket, s3.endpoint, error), { cause: error });
  }
  const storage = createS3Storage({
    client,
    bucket: s3.bucket,
    prefix: s3.prefix,
    redirect: s3.redirect,
    ...(s3.partSize === undefined ? {} : { partSize: s3.partSize }),
    ...(s3.reads.threshold === undefined ? {} : { parallelReadThreshold: s3.reads.threshold }),
    ...(s3.reads.partSize === undefined ? {} : { readPartSize: s3.reads.partSize }),
    ...(s3.reads.partsInFlight === undefined ? {} : { readPartsInFlight: s3.reads.partsInFlight }),
    ...(s3.tagCacheTtl === undefined ? {} : { tagCacheTtl: s3.tagCacheTtl }),
  });
  return {
    storage,
    async probe() {
      await client.send(new HeadBucketCommand({ Bucket: s3.bucket }), {
        abortSignal: AbortSignal.timeout(5000),
      });
    },
    async close() {
      await storage.close();
      client.destroy();
    },
  };
}
