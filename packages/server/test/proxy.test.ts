import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasTool, makeImage, OciClient, run, sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DistributionRegistry, startDistribution } from '../../storage-fs/test/helpers.js';
import { loadConfig } from '../src/config/load.js';
import { debugUrlOf, metric, serveConfig, type TempDir, tempDir, wharf } from './helpers.js';

let temp: TempDir;
beforeAll(async () => {
  temp = await tempDir('wharf-proxy-config-');
});
afterAll(async () => {
  await temp?.remove();
});

describe('pull-through cache configuration', () => {
  it("maps distribution's proxy section to one upstream that owns every repository", async () => {
    const file = await temp.file(
      'proxy.yml',
      `storage: { inmemory: {} }
proxy:
  remoteurl: https://registry-1.docker.io
  username: mirror
  password: hub-token
`,
    );
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(problems).toEqual([]);
    expect(settings?.upstreams).toEqual([
      {
        namespace: 'docker.io',
        url: 'https://registry-1.docker.io',
        prefix: '',
        credentials: { username: 'mirror', password: 'hub-token' },
        cache: { maxUnusedAge: 168 * 3600_000 },
      },
    ]);
    // distribution expires cached content by itself: collections run hourly.
    expect(settings?.gc.interval).toBe(3600_000);

    const kept = await loadConfig({
      file,
      env: { REGISTRY_PROXY_TTL: '0', REGISTRY_PROXY_REMOTEURL: 'https://quay.io' },
    });
    expect(kept.settings?.upstreams).toMatchObject([
      { namespace: 'quay.io', url: 'https://quay.io', prefix: '' },
    ]);
    expect(kept.settings?.upstreams[0]?.cache).toBeUndefined();
    expect(kept.settings?.gc.interval).toBeUndefined();
  });

  it('reads wharf.upstreams, and names the entry that clashes with another', async () => {
    const file = await temp.file(
      'upstreams.yml',
      `storage: { inmemory: {} }
wharf:
  upstreams:
    - namespace: docker.io
      url: https://registry-1.docker.io
      prefix: hub/
      token: abc
      tagfreshness: 5m
      allow: ['library/*']
      timeouts: { revalidate: 500ms }
      cache: { maxunusedage: 30d, maxbytes: 10GiB }
    - namespace: ghcr.io
      url: https://ghcr.io
`,
    );
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(problems).toEqual([]);
    expect(settings?.upstreams).toEqual([
      {
        namespace: 'docker.io',
        url: 'https://registry-1.docker.io',
        prefix: 'hub/',
        credentials: { token: 'abc' },
        tagFreshness: 300_000,
        allow: ['library/*'],
        maxConcurrency: 16,
        localOverrides: false,
        timeouts: { request: 30_000, revalidate: 500, idle: 60_000 },
        cache: { maxUnusedAge: 30 * 86_400_000, maxBytes: 10 * 2 ** 30 },
      },
      {
        namespace: 'ghcr.io',
        url: 'https://ghcr.io',
        tagFreshness: 60_000,
        maxConcurrency: 16,
        localOverrides: false,
        timeouts: { request: 30_000, revalidate: 3_000, idle: 60_000 },
        cache: {},
      },
    ]);

    const clash = await temp.file(
      'clash.yml',
      `storage: { inmemory: {} }
proxy: { remoteurl: 'https://registry-1.docker.io' }
wharf:
  upstreams:
    - { namespace: docker.io, url: 'https://mirror.example', prefix: hub/ }
    - { namespace: quay.io, url: 'https://quay.io', prefix: hub/, username: a, token: b }
`,
    );
    const check = await wharf(['config', 'check', clash]);
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toContain('wharf.upstreams.0: namespace docker.io is also proxy');
    expect(check.stdout + check.stderr).toContain(
      'wharf.upstreams.1: prefix "hub/" is also wharf.upstreams.0',
    );
    expect(check.stdout + check.stderr).toContain(
      'wharf.upstreams.1: give token or username and password, not both',
    );
  });

  it('refuses a credential helper, and reports the timeout it does not need', async () => {
    const file = await temp.file(
      'exec.yml',
      `storage: { inmemory: {} }
proxy:
  remoteurl: https://registry-1.docker.io
  exec: { command: docker-credential-pass }
  cachewritetimeout: 5m
`,
    );
    const check = await wharf(['config', 'check', file]);
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toMatch(/error: proxy\.exec: credential helpers are not supported/);
    expect(check.stdout + check.stderr).toMatch(/notice: proxy\.cachewritetimeout/);
  });
});

describe.skipIf(!(hasTool('docker-registry') && hasTool('skopeo')))(
  "wharf serve as distribution's pull-through cache",
  () => {
    let upstream: DistributionRegistry;

    beforeAll(async () => {
      const root = join(temp.dir, 'upstream');
      upstream = await startDistribution(root, temp.dir);
    });
    afterAll(async () => {
      await upstream?.stop();
    });

    it('serves the upstream’s images with its digests from a docker-registry style config.yml', async () => {
      const image = makeImage({ layers: [300_000] });
      await new OciClient(upstream.url).pushImage('team/app', 'v1', image);
      const file = await temp.file(
        'mirror.yml',
        `version: 0.1
storage:
  filesystem:
    rootdirectory: ${JSON.stringify(join(temp.dir, 'mirror'))}
http:
  addr: 127.0.0.1:0
  debug:
    addr: 127.0.0.1:0
    prometheus: { enabled: true }
proxy:
  remoteurl: ${upstream.url}
  username: mirror
  password: not-in-the-logs
`,
      );
      const server = await serveConfig(file);
      try {
        const client = new OciClient(server.url);
        await client.pullImage('team/app', 'v1', image);
        const into = join(temp.dir, 'pulled');
        await run('skopeo', [
          'copy',
          '--src-tls-verify=false',
          `docker://${server.host}/team/app:v1`,
          `dir:${into}`,
        ]);
        expect(sha256(await readFile(join(into, 'manifest.json')))).toBe(image.manifest.digest);
        await client.pullImage('team/app', 'v1', image);
        const debug = debugUrlOf(server);
        const layer = image.layers[0]!;
        expect(await metric(debug, 'registry_proxy_misses_total', { type: 'blob' })).toBe(2);
        expect(await metric(debug, 'registry_proxy_hits_total', { type: 'blob' })).toBeGreaterThanOrEqual(2);
        expect(await metric(debug, 'registry_proxy_pulled_bytes_total', { type: 'blob' })).toBe(
          layer.bytes.byteLength + image.config.bytes.byteLength,
        );
        expect(
          await metric(debug, 'wharf_proxy_upstream_requests_total', {
            upstream: upstream.host,
            kind: 'blob',
            result: '200',
          }),
        ).toBe(2);
        // A mirror refuses pushes, as distribution's does.
        const push = await client.request('POST', '/v2/team/app/blobs/uploads/');
        expect(push.status).toBe(405);
        expect(server.output()).not.toContain('not-in-the-logs');
      } finally {
        await server.stop();
      }
    });
  },
);
