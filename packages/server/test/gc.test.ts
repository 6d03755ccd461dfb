import { makeImage, OciClient, randomContent, startServer } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { debugUrlOf, metric, type TempDir, tempDir, wharf } from './helpers.js';

const fsEnv = (root: string) => ({
  WHARF_STORAGE: 'fs',
  WHARF_ROOT: root,
  REGISTRY_STORAGE_DELETE_ENABLED: 'true',
});

describe('garbage collection from the server', () => {
  let temp: TempDir;
  beforeEach(async () => {
    temp = await tempDir('wharf-gc-');
  });
  afterEach(async () => {
    await temp.remove();
  });

  it('collects periodically when wharf.gc.interval is set', async () => {
    // The garbage is made before any collector runs: nothing races the DELETE.
    const setup = await startServer({ env: fsEnv(temp.dir) });
    const { bytes, digest } = randomContent(1000);
    try {
      const client = new OciClient(setup.url);
      await client.pushBlob('repo', bytes);
      expect((await client.request('DELETE', `/v2/repo/blobs/${digest}`)).status).toBe(202);
    } finally {
      await setup.stop();
    }
    const server = await startServer({
      env: {
        ...fsEnv(temp.dir),
        REGISTRY_WHARF_GC_INTERVAL: '200ms',
        REGISTRY_WHARF_GC_GRACEPERIOD: '0s',
        REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0',
        REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
      },
    });
    try {
      for (let i = 0; i < 100 && !/gc deleted 1 blobs/.test(server.output()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(server.output()).toMatch(/gc deleted 1 blobs/);
      const client = new OciClient(server.url);
      expect((await client.request('HEAD', `/v2/repo/blobs/${digest}`)).status).toBe(404);
      const debug = debugUrlOf(server);
      expect(await metric(debug, 'wharf_gc_runs_total', { kind: 'gc', result: 'ok' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(await metric(debug, 'wharf_gc_reclaimed_bytes_total')).toBe(1000);
    } finally {
      await server.stop();
    }
  });

  it('runs once from the command line, with a dry run that changes nothing', async () => {
    const root = temp.dir;
    const server = await startServer({ env: fsEnv(root) });
    const kept = makeImage({ layers: [500] });
    const dropped = makeImage({ layers: [700] });
    try {
      const client = new OciClient(server.url);
      await client.pushImage('app', 'keep', kept);
      await client.pushImage('app', 'drop', dropped);
      const deleted = await client.request('DELETE', `/v2/app/manifests/${dropped.manifest.digest}`);
      expect(deleted.status).toBe(202);
    } finally {
      await server.stop();
    }

    const gc = async (...args: string[]) => {
      const result = await wharf(['gc', ...args], { WHARF_STORAGE: 'fs', WHARF_ROOT: root });
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    };
    expect(await gc('--dry-run', '--grace=0s')).toMatch(/gc would delete 3 blobs/);
    expect(await gc('--grace=0s')).toMatch(/gc deleted 3 blobs, 2 links, 0 manifests/);
    expect(await gc('--grace=0s')).toMatch(/gc deleted 0 blobs/);

    const again = await startServer({ env: fsEnv(root) });
    try {
      const after = new OciClient(again.url);
      await after.pullImage('app', 'keep', kept);
      expect((await after.request('HEAD', `/v2/app/blobs/${dropped.layers[0]!.digest}`)).status).toBe(404);
    } finally {
      await again.stop();
    }
    const bad = await wharf(['gc', '--grace=soon'], { WHARF_STORAGE: 'fs', WHARF_ROOT: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--grace: not a duration/);
  });
});
