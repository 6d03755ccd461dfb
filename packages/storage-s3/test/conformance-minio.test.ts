import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { defineStoreConformanceSuite } from '@wharf/core/testing';
import { afterAll, beforeAll, describe } from 'vitest';
import { createS3Storage } from '../src/index.js';
import {
  awsClient,
  bucketName,
  contents,
  createBucket,
  deleteBucket,
  env,
  minioClient,
  purgePrefix,
} from './helpers.js';

describe.skipIf(!env)('S3 storage with the minio client', () => {
  const bucket = bucketName('conf-minio');
  let admin: S3Client;
  beforeAll(async () => {
    admin = awsClient(env!);
    await createBucket(admin, bucket);
  });
  afterAll(async () => {
    await deleteBucket(admin, bucket);
    admin.destroy();
  });

  defineStoreConformanceSuite({
    name: 's3, minio client',
    timeout: 120_000,
    async create() {
      const prefix = `t-${randomUUID()}/`;
      const storage = createS3Storage({ client: minioClient(env!), bucket, prefix });
      return {
        storage,
        inspect: () => contents(admin, bucket, prefix),
        replica: async () => createS3Storage({ client: minioClient(env!), bucket, prefix }),
        cleanup: () => purgePrefix(admin, bucket, prefix),
      };
    },
  });
});
