/**
 * Objects written by other software sharing the layout (CNCF distribution, earlier wharf versions)
 * lack the user metadata wharf adds for speed: they must still be read.
 */
import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createRegistry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { env, useBucket } from './helpers.js';

describe.skipIf(!env)('links written without wharf metadata', () => {
  const s3 = useBucket('layout');
  const { bucket } = s3;

  it('resolves a tag whose current link holds only the digest, as distribution writes it', async () => {
    const prefix = `l-${randomUUID()}/`;
    const registry = createRegistry({ storage: createS3Storage({ client: s3.admin, bucket, prefix }) });
    const client = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(new Request(input, init)),
    );
    const first = makeImage({ layers: [100] });
    const second = makeImage({ layers: [200] });
    await client.pushImage('lib/app', 'v1', first);
    await client.pushImage('lib/app', 'other', second);
    // Point v1 at the second image the way distribution does: the digest as the body, no metadata.
    await s3.admin.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}docker/registry/v2/repositories/lib/app/_manifests/tags/v1/current/link`,
        Body: second.manifest.digest,
      }),
    );
    const res = await client.request('GET', '/v2/lib/app/manifests/v1', {
      headers: { Accept: second.mediaType },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(second.manifest.digest);
    expect(Buffer.from(await res.arrayBuffer()).equals(second.manifest.bytes)).toBe(true);
  });
});
