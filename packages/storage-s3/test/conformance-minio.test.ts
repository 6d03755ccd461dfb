import { randomUUID } from 'node:crypto';
import { defineStoreConformanceSuite } from '@wharf/core/testing';
import { describe } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { contents, env, minioClient, purgePrefix, TEST_CACHE, useBucket, withoutNotices } from './helpers.js';

describe.skipIf(!env)('S3 storage with the minio client', () => {
  const s3 = useBucket('conf-minio');
  const { bucket } = s3;

  defineStoreConformanceSuite({
    name: 's3, minio client',
    timeout: 120_000,
    async create() {
      const prefix = `t-${randomUUID()}/`;
      const storage = createS3Storage({ client: minioClient(env!), bucket, prefix, cache: TEST_CACHE });
      return {
        storage,
        inspect: () => contents(s3.admin, bucket, prefix).then(withoutNotices),
        replica: async () =>
          createS3Storage({ client: minioClient(env!), bucket, prefix, cache: TEST_CACHE }),
        cleanup: () => purgePrefix(s3.admin, bucket, prefix),
      };
    },
  });
});
