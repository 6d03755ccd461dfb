import { makeImage, OciClient } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveConfig, type TempDir, tempDir } from './helpers.js';

let temp: TempDir;
beforeAll(async () => {
  temp = await tempDir('wharf-http-');
});
afterAll(async () => {
  await temp?.remove();
});

describe('http.prefix', () => {
  it('serves the registry under the prefix, with Location headers that keep it', async () => {
    const config = await temp.file(
      'prefix.yml',
      "storage: { inmemory: {} }\nhttp: { addr: '127.0.0.1:0', prefix: /registry/ }\n",
    );
    const server = await serveConfig(config);
    try {
      // The start-up line names the registry's URL, prefix included.
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/registry$/);
      const origin = new URL(server.url).origin;
      const client = new OciClient(server.url);
      const image = makeImage({ layers: [3000] });
      await client.pushImage('team/app', 'v1', image);
      await client.pullImage('team/app', 'v1', image);
      const upload = await fetch(`${origin}/registry/v2/team/app/blobs/uploads/`, { method: 'POST' });
      expect(upload.status).toBe(202);
      expect(upload.headers.get('location')).toMatch(/^\/registry\/v2\/team\/app\/blobs\/uploads\//);
      expect((await fetch(`${origin}/v2/`)).status).toBe(404);
      expect((await fetch(`${origin}/readyz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('storage.maintenance.readonly', () => {
  it('refuses pushes and deletes with 405 UNSUPPORTED, and serves pulls', async () => {
    const config = await temp.file(
      'readonly.yml',
      `storage:
  inmemory: {}
  delete: { enabled: true }
  maintenance: { readonly: { enabled: true } }
http: { addr: '127.0.0.1:0' }
`,
    );
    const server = await serveConfig(config);
    try {
      const push = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
      expect(push.status).toBe(405);
      expect(((await push.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe(
        'UNSUPPORTED',
      );
      expect((await fetch(`${server.url}/v2/team/app/tags/list`)).status).toBe(404);
      expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
