/**
 * The OCI distribution-spec conformance suite (`@wharf/core/testing`), run against a registry on S3
 * storage.
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { createRegistry } from '@wharf/core';
import { defineOciConformanceSuite } from '@wharf/core/testing';
import { afterAll, beforeAll, describe } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { awsClient, bucketName, createBucket, deleteBucket, env, TEST_CACHE } from './helpers.js';

describe.skipIf(!env)('OCI conformance on S3 storage', () => {
  const bucket = bucketName('oci');
  let admin: S3Client | undefined;
  beforeAll(async () => {
    await createBucket(admin!, bucket);
  });
  afterAll(async () => {
    await deleteBucket(admin!, bucket);
    admin!.destroy();
  });
  if (env) {
    admin = awsClient(env);
    const registry = createRegistry({
      storage: createS3Storage({ client: admin, bucket, prefix: randomUUID(), cache: TEST_CACHE }),
    });
    defineOciConformanceSuite({ name: 's3', target: { registry } });
  }
});
