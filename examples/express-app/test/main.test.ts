import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OciClient, REPO_ROOT, randomContent, startServer, withAuthorization } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('express-app main', () => {
  it('keeps the registry in memory by default, as its README says: nothing is written to ./data', async () => {
    // Inside the repository (where tsx resolves), in the ignored .tmp directory.
    await mkdir(join(REPO_ROOT, '.tmp'), { recursive: true });
    const cwd = await mkdtemp(join(REPO_ROOT, '.tmp', 'express-main-'));
    try {
      const server = await startServer({
        main: MAIN,
        cwd,
        env: {
          WHARF_STORAGE: undefined,
          WHARF_ROOT: undefined,
          REGISTRY_STORAGE: undefined,
          EXPRESS_APP_USERS: 'ci:pw',
        },
      });
      try {
        const client = new OciClient(
          server.url,
          withAuthorization(`Basic ${Buffer.from('ci:pw').toString('base64')}`),
        );
        const { bytes, digest } = randomContent(100);
        await client.pushBlob('ci/app', bytes);
        expect((await client.request('HEAD', `/v2/ci/app/blobs/${digest}`)).status).toBe(200);
        expect(server.output()).toContain('storage: inmemory');
      } finally {
        await server.stop();
      }
      expect(existsSync(join(cwd, 'data'))).toBe(false);
      expect(await readdir(cwd)).toEqual([]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
