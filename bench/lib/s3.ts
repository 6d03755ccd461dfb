import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectAclCommand } from '@aws-sdk/client-s3';
import { createS3Storage } from '@wharf/storage-s3';
import { s3Env } from '@wharf/test-utils';
import { removeBucket as remove, s3Client } from '@wharf/test-utils/s3';
import type { Target } from './targets.js';

/** The S3 server the benchmark's S3 targets use (from the `S3_*` environment), or `undefined`. */
export function s3Endpoint(): ReturnType<typeof s3Env> {
  return s3Env();
}

function endpoint(): NonNullable<ReturnType<typeof s3Env>> {
  const env = s3Env();
  if (!env) throw new Error('S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are needed');
  return env;
}

/**
 * The benchmark's buckets: one fresh bucket per S3 target, each removed with everything in it at
 * the end (a test cluster keeps data in memory and fills up otherwise).
 */
export class BenchBuckets {
  readonly #client = s3Client(endpoint());
  readonly #buckets: string[] = [];

  /** Creates a fresh bucket for `label`. */
  async create(label: string): Promise<string> {
    const bucket = `wharf-bench-${label}-${randomUUID().slice(0, 8)}`;
    this.#buckets.push(bucket);
    await this.#client.send(new CreateBucketCommand({ Bucket: bucket }));
    return bucket;
  }

  /**
   * Deletes one blob of a registry laid out like distribution (wharf-s3, distribution-s3) through
   * wharf's own S3 blob store, which removes every object a blob consists of.
   */
  blobDiscarder(bucket: string): (digest: string) => Promise<void> {
    const { blobs } = createS3Storage({ client: this.#client, bucket, prefix: '' });
    return async (digest) => {
      await blobs.delete(digest);
    };
  }

  /** Deletes one object the raw S3 baseline stored (`raw/<hex>`). */
  rawDiscarder(bucket: string): (digest: string) => Promise<void> {
    return async (digest) => {
      const Key = `raw/${digest.slice(digest.indexOf(':') + 1)}`;
      await this.#client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    };
  }

  /**
   * The `bucket-get` ceiling: the benchmark's client reading `raw/<hex>` of `bucket` straight from
   * the S3 server (made readable without credentials), no registry in between. Its CPU is the S3
   * server's (the process listening on the endpoint's port, found with `ss`).
   */
  async bucketTarget(bucket: string, digest: string): Promise<{ target: Target; path: string }> {
    const Key = `raw/${digest.slice(digest.indexOf(':') + 1)}`;
    await this.#client.send(new PutObjectAclCommand({ Bucket: bucket, Key, ACL: 'public-read' }));
    const url = endpoint().endpoint;
    const port = new URL(url).port || (url.startsWith('https:') ? '443' : '80');
    const listing = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).stdout ?? '';
    const pid = Number(/pid=(\d+)/.exec(listing)?.[1]);
    if (!pid) throw new Error(`no process found listening on port ${port} (ss -ltnp)`);
    const none = async (): Promise<void> => {};
    return { target: { name: 'bucket-get', url, pid, discard: none, stop: none }, path: `/${bucket}/${Key}` };
  }

  /** Removes every bucket created here, with all objects and multipart uploads in it. */
  async removeAll(): Promise<void> {
    try {
      for (const bucket of this.#buckets) await remove(endpoint(), bucket);
    } finally {
      this.#client.destroy();
    }
  }
}
