import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeImage, OciClient, REPO_ROOT, randomContent, run, startServer } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';

const MAIN = join(REPO_ROOT, 'examples/server/src/main.ts');

/** Runs `wharf gc …` on a storage root; resolves its standard output. */
async function gcCommand(root: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@wharf/source', '--import', 'tsx', MAIN, 'gc', ...args],
    {
      cwd: REPO_ROOT,
      env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root },
    },
  );
  return stdout;
}

describe('garbage collection from the example server', () => {
  it('collects periodically when WHARF_GC_INTERVAL is set', async () => {
    const server = await startServer({
      env: { WHARF_STORAGE: 'memory', WHARF_GC_INTERVAL: '300ms', WHARF_GC_GRACE: '0s' },
    });
    try {
      const client = new OciClient(server.url);
      const { bytes, digest } = randomContent(1000);
      await client.pushBlob('repo', bytes);
      expect((await client.request('DELETE', `/v2/repo/blobs/${digest}`)).status).toBe(202);
      for (let i = 0; i < 100 && !/gc deleted 1 blobs/.test(server.output()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(server.output()).toMatch(/gc deleted 1 blobs/);
    } finally {
      await server.stop();
    }
  });

  it('runs once from the command line, with a dry run that changes nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wharf-gc-cli-'));
    try {
      const server = await startServer({ env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root } });
      const client = new OciClient(server.url);
      const kept = makeImage({ layers: [500] });
      const dropped = makeImage({ layers: [700] });
      await client.pushImage('app', 'keep', kept);
      await client.pushImage('app', 'drop', dropped);
      expect((await client.request('DELETE', `/v2/app/manifests/${dropped.manifest.digest}`)).status).toBe(
        202,
      );
      await server.stop();

      const dry = await gcCommand(root, '--dry-run', '--grace=0s');
      expect(dry).toMatch(/gc would delete 3 blobs/);
      const real = await gcCommand(root, '--grace=0s');
      expect(real).toMatch(/gc deleted 3 blobs, 2 links, 0 manifests/);
      expect(await gcCommand(root, '--grace=0s')).toMatch(/gc deleted 0 blobs/);

      const again = await startServer({ env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root } });
      try {
        const after = new OciClient(again.url);
        await after.pullImage('app', 'keep', kept);
        expect((await after.request('HEAD', `/v2/app/blobs/${dropped.layers[0]!.digest}`)).status).toBe(404);
      } finally {
        await again.stop();
      }
      await expect(gcCommand(root, '--grace=soon')).rejects.toThrow(/not a duration/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
