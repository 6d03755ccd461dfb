import type { AuthorizeContext, RouteCall } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { code, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

describe('proxied and local repositories side by side', () => {
  it('refuses writes under a proxied prefix and keeps every other repository local', async () => {
    upstream = await startUpstream();
    const proxy = proxied({ upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }] });
    const client = new OciClient('http://registry.local', proxy.fetch);
    const image = makeImage();
    for (const [method, path] of [
      ['POST', '/v2/hub/library/app/blobs/uploads/'],
      ['PUT', '/v2/hub/library/app/manifests/v1'],
      ['DELETE', '/v2/hub/library/app/manifests/v1'],
      ['DELETE', `/v2/hub/library/app/blobs/${image.config.digest}`],
    ] as const) {
      const res = await proxy.fetch(path, {
        method,
        ...(method === 'PUT'
          ? { body: image.manifest.bytes, headers: { 'Content-Type': image.mediaType } }
          : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(await code(res)).toBe('UNSUPPORTED');
    }
    // A repository named like the prefix, and any other, is local.
    await client.pushImage('hub', 'v1', image);
    await client.pushImage('team/app', 'v1', image);
    await client.pullImage('team/app', 'v1', image);
    expect(upstream.seen).toEqual([]);
  });

  it('serves tags pushed as local overrides instead of the upstream’s, and the upstream’s otherwise', async () => {
    upstream = await startUpstream();
    const theirs = makeImage();
    const ours = makeImage();
    await upstream.client.pushImage('library/app', 'v1', theirs);
    await upstream.client.pushImage('library/app', 'v2', theirs);
    const proxy = proxied({
      upstreams: [
        { namespace: 'docker.io', url: upstream.url, prefix: 'hub/', localOverrides: true, tagFreshness: 0 },
      ],
    });
    const client = new OciClient('http://registry.local', proxy.fetch);
    expect((await client.getManifest('hub/library/app', 'v1')).digest).toBe(theirs.manifest.digest);
    await client.pushImage('hub/library/app', 'v1', ours);
    await client.pushImage('hub/library/app', 'mine', ours);

    await client.pullImage('hub/library/app', 'v1', ours);
    await client.pullImage('hub/library/app', 'mine', ours);
    expect((await client.getManifest('hub/library/app', 'v2')).digest).toBe(theirs.manifest.digest);
    expect(await client.tags('hub/library/app')).toEqual(['mine', 'v1', 'v2']);

    // Deleting the override hands the tag back to the upstream.
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1', { method: 'DELETE' })).status).toBe(202);
    expect((await client.getManifest('hub/library/app', 'v1')).digest).toBe(theirs.manifest.digest);
  });

  it('authorizes and shows middleware a pull as one of the repository it is cached in', async () => {
    upstream = await startUpstream();
    await upstream.client.pushImage('library/app', 'v1', makeImage());
    const asked: AuthorizeContext[] = [];
    const calls: RouteCall[] = [];
    const proxy = proxied({
      upstreams: [{ namespace: 'docker.io', url: upstream.url }],
      authorize: (context) => {
        asked.push(context);
        return context.repository !== 'docker.io/library/secret';
      },
      middleware: [
        (call, next) => {
          calls.push(call);
          return next();
        },
      ],
    });
    expect((await proxy.fetch('/v2/library/app/manifests/v1?ns=docker.io')).status).toBe(200);
    expect(asked.map((a) => [a.action, a.repository])).toEqual([['pull', 'docker.io/library/app']]);
    expect(calls.map((c) => c.params.repository)).toEqual(['docker.io/library/app']);
    // Refused before anything is asked of the upstream.
    const denied = await proxy.fetch('/v2/library/secret/manifests/v1?ns=docker.io');
    expect(denied.status).toBe(403);
    expect(upstream.seen.some((s) => s.path.includes('secret'))).toBe(false);
  });
});
