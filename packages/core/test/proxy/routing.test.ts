import { once } from 'node:events';
import { createServer } from 'node:net';
import { createRegistry, OptionsError, type UpstreamOptions } from '@wharf/core';
import { makeImage } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { code, proxied } from './harness.js';
import { startUpstream, type TestUpstream } from './helpers.js';

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.stop();
  upstream = undefined;
});

describe('routing pulls to upstreams', () => {
  it('routes ?ns= to the upstream with that namespace, caches under its prefix and echoes OCI-Namespace', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/alpine', 'latest', image);
    const proxy = proxied({ upstreams: [{ namespace: 'Docker.IO', url: upstream.url }] });
    const res = await proxy.fetch('/v2/library/alpine/manifests/latest?ns=docker.io');
    expect(res.status).toBe(200);
    expect(res.headers.get('oci-namespace')).toBe('docker.io');
    expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
    // The default prefix is the namespace: the same content is reachable as docker.io/library/alpine.
    expect(await proxy.storage.metadata.getTag('docker.io/library/alpine', 'latest')).toBe(
      image.manifest.digest,
    );
    const seen = upstream.seen.length;
    const byPrefix = await proxy.fetch('/v2/docker.io/library/alpine/manifests/latest');
    expect(byPrefix.status).toBe(200);
    expect(byPrefix.headers.get('oci-namespace')).toBeNull();
    expect(upstream.seen.length).toBe(seen);
  });

  it('adds library/ to one-component names for Docker Hub, as docker does', async () => {
    upstream = await startUpstream();
    const image = makeImage();
    await upstream.client.pushImage('library/busybox', 'v1', image);
    const proxy = proxied({ upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }] });
    const res = await proxy.fetch('/v2/hub/busybox/manifests/v1');
    expect(res.status).toBe(200);
    expect(upstream.seen.some((s) => s.path === '/v2/library/busybox/manifests/v1')).toBe(true);
  });

  it('dials nothing for a namespace that is not configured', async () => {
    upstream = await startUpstream();
    let dialled = 0;
    const other = createServer((socket) => {
      dialled++;
      socket.destroy();
    });
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    try {
      const port = (other.address() as { port: number }).port;
      const proxy = proxied({ upstreams: [{ namespace: 'docker.io', url: upstream.url }] });
      for (const ns of [`127.0.0.1:${port}`, 'localhost', 'quay.io']) {
        const res = await proxy.fetch(`/v2/library/alpine/manifests/latest?ns=${encodeURIComponent(ns)}`);
        expect(res.status).toBe(404);
        const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors[0]!.code).toBe('NAME_UNKNOWN');
        expect(body.errors[0]!.message).toContain('no upstream is configured');
      }
      expect(dialled).toBe(0);
      expect(upstream.connections()).toBe(0);
    } finally {
      other.close();
    }
  });

  it('honours allow and deny patterns on upstream names', async () => {
    upstream = await startUpstream();
    for (const repo of ['library/app', 'library/secret', 'other/app']) {
      await upstream.client.pushImage(repo, 'v1', makeImage());
    }
    const proxy = proxied({
      upstreams: [
        {
          namespace: 'upstream.test',
          url: upstream.url,
          prefix: 'hub/',
          allow: ['library/*'],
          deny: ['**/secret'],
        },
      ],
    });
    expect((await proxy.fetch('/v2/hub/library/app/manifests/v1')).status).toBe(200);
    for (const repo of ['library/secret', 'other/app']) {
      const res = await proxy.fetch(`/v2/hub/${repo}/manifests/v1`);
      expect(res.status).toBe(403);
      expect(await code(res)).toBe('DENIED');
    }
    expect(upstream.seen.filter((s) => s.path.includes('secret') || s.path.includes('other'))).toEqual([]);
  });

  it('routes to the upstream with the longest matching prefix', async () => {
    upstream = await startUpstream();
    const second = await startUpstream();
    try {
      await second.client.pushImage('app', 'v1', makeImage());
      const proxy = proxied({
        upstreams: [
          { namespace: 'one.test', url: upstream.url, prefix: 'mirror/' },
          { namespace: 'two.test', url: second.url, prefix: 'mirror/two/' },
        ],
      });
      expect((await proxy.fetch('/v2/mirror/two/app/manifests/v1')).status).toBe(200);
      expect(upstream.seen).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('makes every other repository a mirror of an upstream with the empty prefix', async () => {
    upstream = await startUpstream();
    const second = await startUpstream();
    try {
      const image = makeImage();
      await upstream.client.pushImage('library/alpine', 'v1', image);
      await second.client.pushImage('app', 'v1', makeImage());
      const proxy = proxied({
        upstreams: [
          { namespace: 'docker.io', url: upstream.url, prefix: '' },
          { namespace: 'two.test', url: second.url, prefix: 'two/' },
        ],
      });
      const res = await proxy.fetch('/v2/alpine/manifests/v1');
      expect(res.headers.get('docker-content-digest')).toBe(image.manifest.digest);
      expect(await proxy.storage.metadata.getTag('library/alpine', 'v1')).toBe(image.manifest.digest);
      expect((await proxy.fetch('/v2/two/app/manifests/v1')).status).toBe(200);
      expect(upstream.seen.some((s) => s.path.includes('two'))).toBe(false);
    } finally {
      await second.stop();
    }
  });

  it('refuses upstream options it cannot use, naming the option', () => {
    const cases: Array<[Partial<UpstreamOptions>, string]> = [
      [{ namespace: '' }, 'upstreams[0].namespace'],
      [{ url: 'ftp://example.com' }, 'upstreams[0].url'],
      [{ url: 'https://user:pw@example.com' }, 'upstreams[0].url'],
      [{ prefix: 'hub' }, 'upstreams[0].prefix'],
      [{ prefix: 7 as never }, 'upstreams[0].prefix'],
      [{ namespace: 'localhost:5000' }, 'upstreams[0].prefix'],
      [{ tagFreshness: -1 }, 'upstreams[0].tagFreshness'],
      [{ maxConcurrency: 0 }, 'upstreams[0].maxConcurrency'],
      [{ credentials: { username: 'a' } as never }, 'upstreams[0].credentials.password'],
      [{ allow: [''] }, 'upstreams[0].allow'],
      [{ timeouts: { request: 0 } }, 'upstreams[0].timeouts.request'],
    ];
    for (const [override, option] of cases) {
      const upstreams = [{ namespace: 'docker.io', url: 'https://registry-1.docker.io', ...override }];
      expect(() => createRegistry({ upstreams: upstreams as UpstreamOptions[] })).toThrow(OptionsError);
      try {
        createRegistry({ upstreams: upstreams as UpstreamOptions[] });
      } catch (error) {
        expect((error as OptionsError).option).toBe(option);
        expect((error as OptionsError).message).toMatch(
          new RegExp(`^createRegistry: option "${option.replace(/[[\].]/g, '\\$&')}"`),
        );
      }
    }
    expect(() =>
      createRegistry({
        upstreams: [
          { namespace: 'docker.io', url: 'https://a.example' },
          { namespace: 'DOCKER.io', url: 'https://b.example', prefix: 'b/' },
        ],
      }),
    ).toThrow('createRegistry: option "upstreams[1].namespace" repeats "docker.io"');
  });
});
