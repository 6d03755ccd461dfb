import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { defineGcSuite, defineStoreConformanceSuite, type StoreHarness } from '@wharf/core/testing';
import { describe } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { awsClient, contents, env, purgePrefix, TEST_CACHE, useBucket, withoutNotices } from './helpers.js';

describe.skipIf(!env)('S3 storage with the AWS SDK client', () => {
  const s3 = useBucket('conf-aws');
  const { bucket } = s3;

  /** A fresh prefix per harness; `replica()` opens a second storage over another client. */
  function harness(conditionalWrites: boolean | 'auto'): () => Promise<StoreHarness> {
    return async () => {
      const prefix = `t-${randomUUID()}/`;
      const clients: S3Client[] = [awsClient(env!)];
      const storage = createS3Storage({
        client: clients[0]!,
        bucket,
        prefix,
        conditionalWrites,
        cache: TEST_CACHE,
      });
      return {
        storage,
        inspect: () => contents(s3.admin, bucket, prefix).then(withoutNotices),
        async replica() {
          const client = awsClient(env!);
          clients.push(client);
          return createS3Storage({ client, bucket, prefix, conditionalWrites, cache: TEST_CACHE });
        },
        async cleanup() {
          await purgePrefix(s3.admin, bucket, prefix);
          for (const client of clients) client.destroy();
        },
      };
    };
  }

  defineStoreConformanceSuite({ name: 's3, AWS SDK', timeout: 120_000, create: harness('auto') });
  // The claim protocol for servers without conditional writes, on the same server.
  defineStoreConformanceSuite({
    name: 's3, AWS SDK, marker-and-list claims',
    timeout: 120_000,
    create: harness(false),
    // Without conditional writes the outbox's create-only writes cannot be exact (see S3EventStore).
    eventStore: false,
  });
  defineGcSuite({ name: 's3, AWS SDK', timeout: 180_000, create: harness('auto') });
});
