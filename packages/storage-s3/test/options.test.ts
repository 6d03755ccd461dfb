import { S3Client } from '@aws-sdk/client-s3';
import { OptionsError } from '@wharf/core';
import { Client as MinioClient } from 'minio';
import { describe, expect, it } from 'vitest';
import { createS3Storage, type S3ClientLike, type S3StorageOptions } from '../src/index.js';

const aws = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
const minio = new MinioClient({
  endPoint: '127.0.0.1',
  port: 1,
  useSSL: false,
  accessKey: 'a',
  secretKey: 'b',
});

describe('createS3Storage options', () => {
  const cases: Array<[string, unknown, string]> = [
    ['no options', undefined, 'option "options" must be an object'],
    ['no client', { bucket: 'b' }, 'option "client" must be an AWS SDK v3 S3Client or a minio Client'],
    ['a client that is neither', { client: {}, bucket: 'b' }, 'option "client" must be'],
    ['no bucket', { client: aws }, 'option "bucket" must be a bucket name'],
    ['an empty bucket', { client: aws, bucket: '' }, 'option "bucket" must be a bucket name'],
    ['a bucket with a slash', { client: minio, bucket: 'a/b' }, 'option "bucket" must be a bucket name'],
    [
      'a prefix that is no string',
      { client: aws, bucket: 'b', prefix: 1 },
      'option "prefix" must be a string',
    ],
    [
      'a part size under the minimum',
      { client: aws, bucket: 'b', partSize: 1024 },
      'option "partSize" must be an integer from 5242880',
    ],
    [
      'a fractional part size',
      { client: aws, bucket: 'b', partSize: 6e6 + 0.5 },
      'option "partSize" must be an integer',
    ],
    [
      'one part per upload',
      { client: aws, bucket: 'b', maxParts: 1 },
      'option "maxParts" must be an integer from 2',
    ],
    [
      'no concurrency',
      { client: aws, bucket: 'b', concurrency: 0 },
      'option "concurrency" must be an integer from 1',
    ],
    [
      'no parts in flight for reads',
      { client: aws, bucket: 'b', readPartsInFlight: 0 },
      'option "readPartsInFlight" must be an integer from 1 to 64',
    ],
    [
      'a read part of zero bytes',
      { client: aws, bucket: 'b', readPartSize: 0 },
      'option "readPartSize" must be an integer from 1',
    ],
    [
      'a negative parallel-read threshold',
      { client: aws, bucket: 'b', parallelReadThreshold: -1 },
      'option "parallelReadThreshold" must be an integer from 0',
    ],
    [
      'a redirect that is none',
      { client: aws, bucket: 'b', redirect: 'yes' },
      'option "redirect" must be true, false or { expiresIn }',
    ],
    [
      'a negative redirect lifetime',
      { client: aws, bucket: 'b', redirect: { expiresIn: -1 } },
      'option "redirect.expiresIn"',
    ],
    [
      'an unknown claim mode',
      { client: aws, bucket: 'b', conditionalWrites: 'maybe' },
      'option "conditionalWrites" must be true or false or "auto"',
    ],
    [
      'a cache lease that is no number',
      { client: aws, bucket: 'b', cache: { lease: '2s' } },
      'option "cache.lease" must be an integer',
    ],
    [
      'a negative tag cache',
      { client: aws, bucket: 'b', tagCacheTtl: -1 },
      'option "tagCacheTtl" must be an integer from 0',
    ],
    [
      'signed requests that are none',
      { client: aws, bucket: 'b', signedRequests: 1 },
      'option "signedRequests"',
    ],
  ];
  for (const [what, options, message] of cases) {
    it(`refuses ${what} with an OptionsError`, () => {
      let error: unknown;
      try {
        createS3Storage(options as S3StorageOptions);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptionsError);
      expect((error as Error).message).toMatch(/^createS3Storage: /);
      expect((error as Error).message).toContain(message);
    });
  }

  it('takes an AWS SDK client, a minio client, or anything shaped like the SDK client', async () => {
    const lookalike: S3ClientLike = { send: async () => ({}), config: {} };
    for (const client of [aws, minio, lookalike]) {
      const storage = createS3Storage({
        client,
        bucket: 'b',
        redirect: { expiresIn: 60 },
        cache: { lease: 500 },
      });
      expect(typeof storage.blobs.stat).toBe('function');
      await storage.close();
    }
  });
});
