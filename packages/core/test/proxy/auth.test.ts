import type { UpstreamOptions } from '@wharf/core';
import { makeImage, sha256 } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { parseChallenge } from '../../src/proxy/auth.js';
import { parseRetryAfter } from '../../src/proxy/client.js';
import { type Proxied, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

describe('authenticating to upstreams', () => {
  it('gets a Docker token from the realm with the credentials, once per scope while it is valid', async () => {
    upstream = await startUpstream({ token: { username: 'mirror', password: 's3cret' } });
    const image = makeImage({ layers: [2048] });
    const ok = await upstream.registry.fetch('/v2/'); // the hook guards the upstream's own pushes too
    expect(ok.status).toBe(401);
    const proxy = withCredentials({ username: 'mirror', password: 's3cret' });
    // Push through the token flow's back door: the registry's storage directly.
    await pushDirect(upstream, 'library/app', 'v1', image);

    const manifest = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(manifest.status).toBe(200);
    for (const blob of [image.config, ...image.layers]) {
      const res = await proxy.fetch(`/v2/hub/library/app/blobs/${blob.digest}`);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
    }
    const tokenRequests = upstream.seen.filter((s) => s.path.startsWith('/token'));
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]!.path).toContain('scope=repository%3Alibrary%2Fapp%3Apull');
    expect(tokenRequests[0]!.authorization).toBe(`Basic ${Buffer.from('mirror:s3cret').toString('base64')}`);
    // After the first challenge every request carries the token.
    const registryRequests = upstream.seen.filter((s) => s.path.startsWith('/v2/'));
    expect(registryRequests.slice(1).every((s) => s.authorization?.startsWith('Bearer '))).toBe(true);
  });

  it('takes credentials from a provider function, and refuses with DENIED when they are wrong', async () => {
    upstream = await startUpstream({ token: { username: 'mirror', password: 'right' } });
    await pushDirect(upstream, 'library/app', 'v1', makeImage());
    let password = 'wrong';
    const proxy = withCredentials(async () => ({ username: 'mirror', password }));
    const denied = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(denied.status).toBe(403);
    const body = (await denied.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toContain('token endpoint refused');
    password = 'right';
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
  });

  it('answers a Basic challenge with the credentials', async () => {
    upstream = await startUpstream({ basic: { username: 'u', password: 'p' } });
    const image = makeImage();
    await pushDirect(upstream, 'library/app', 'v1', image);
    const proxy = withCredentials({ username: 'u', password: 'p' });
    const res = await proxy.fetch('/v2/hub/library/app/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
  });

  it('parses challenges and Retry-After values as registries send them', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/alpine:pull',
      },
    });
    expect(parseChallenge('Basic realm="a \\"quoted\\" realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'a "quoted" realm' },
    });
    expect(parseChallenge('')).toBeUndefined();
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('999999')).toBe(900);
  });
});

/** A proxy of the test upstream under `hub/`, with credentials. */
function withCredentials(credentials: UpstreamOptions['credentials']): Proxied {
  return proxied({
    upstreams: [{ namespace: 'upstream.test', url: upstream!.url, prefix: 'hub/', credentials }],
  });
}

/** Writes an image into a guarded upstream's storage without going through its auth. */
async function pushDirect(
  target: TestUpstream,
  repo: string,
  tag: string,
  image: ReturnType<typeof makeImage>,
): Promise<void> {
  const { blobs, metadata } = target.registry.storage;
  for (const content of [image.config, ...image.layers, image.manifest]) {
    await blobs.put(
      content.digest,
      (async function* () {
        yield content.bytes;
      })(),
    );
  }
  for (const content of [image.config, ...image.layers]) await metadata.linkBlob(repo, content.digest);
  await metadata.putManifest(repo, { digest: image.manifest.digest, mediaType: image.mediaType });
  await metadata.putTag(repo, tag, image.manifest.digest);
}
