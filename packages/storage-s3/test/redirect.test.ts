import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  hasTool,
  layoutBlob,
  layoutDigest,
  makeRealImage,
  OciClient,
  run,
  type ServerProcess,
  sha256,
  startServer,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClient, bucketName, createBucket, deleteBucket, env } from './helpers.js';

describe.skipIf(!env || !hasTool('skopeo'))('redirect mode: blob GETs answered with presigned URLs', () => {
  const bucket = bucketName('redirect');
  let admin: S3Client;
  let server: ServerProcess;
  let work: string;

  beforeAll(async () => {
    admin = awsClient(env!);
    await createBucket(admin, bucket);
    work = await mkdtemp(join(tmpdir(), 'wharf-s3-redirect-'));
    server = await startServer({
      env: { WHARF_STORAGE: 's3', S3_BUCKET: bucket, S3_PREFIX: 'registry', S3_REDIRECT: 'true' },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
    await deleteBucket(admin, bucket);
    admin.destroy();
  });

  it('answers GET with a 307 to the bucket and HEAD directly, and skopeo pulls through the redirects', async () => {
    const image = makeRealImage([{ randomFile: 6 * 1024 * 1024 }, { randomFile: 1000 }]);
    const source = join(work, 'source');
    await writeOciLayout(source, [{ tag: 'v1', image }]);
    const ref = `docker://${server.host}/team/app`;
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${source}:v1`, `${ref}:v1`]);

    const client = new OciClient(server.url);
    const layer = image.layers[0]!;
    const get = await client.request('GET', `/v2/team/app/blobs/${layer.digest}`, { redirect: 'manual' });
    expect(get.status).toBe(307);
    const location = get.headers.get('location')!;
    expect(new URL(location).origin).toBe(new URL(env!.endpoint).origin);
    expect(location).toContain('X-Amz-Signature=');
    const direct = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(sha256(direct)).toBe(layer.digest);
    const head = await client.request('HEAD', `/v2/team/app/blobs/${layer.digest}`, { redirect: 'manual' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.bytes.byteLength));

    const pulled = join(work, 'pulled');
    await run('skopeo', ['copy', '--src-tls-verify=false', `${ref}:v1`, `oci:${pulled}:v1`]);
    expect(await layoutDigest(pulled, 'v1')).toBe(image.manifest.digest);
    for (const blob of [image.config, ...image.layers]) {
      expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
    }
  });
});
