import { createS3Storage } from '@wharf/storage-s3';
import { s3Env } from '@wharf/test-utils';
import { removeBucket as remove, s3Client } from '@wharf/test-utils/s3';

/** The S3 server the benchmark's wharf-s3 target uses (from the `S3_*` environment). */
function endpoint(): NonNullable<ReturnType<typeof s3Env>> {
  const env = s3Env();
  if (!env) throw new Error('S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are needed');
  return env;
}

/**
 * Deletes one blob through wharf's own S3 blob store (the target's bucket, empty prefix), so that an
 * S3 server keeping objects in memory does not fill up with earlier samples.
 */
export function s3Discarder(bucket: string): { discard(digest: string): Promise<void>; close(): void } {
  const client = s3Client(endpoint());
  const { blobs } = createS3Storage({ client, bucket, prefix: '' });
  return {
    async discard(digest) {
      await blobs.delete(digest);
    },
    close: () => client.destroy(),
  };
}

/** Deletes a bucket the benchmark created, with every object and multipart upload in it. */
export function removeBucket(bucket: string): Promise<void> {
  return remove(endpoint(), bucket);
}
