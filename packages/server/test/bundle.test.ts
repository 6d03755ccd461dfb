import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '@wharf/auth';
import { REPO_ROOT, type ServerProcess, s3Env, sha256 } from '@wharf/test-utils';
import { createBucket, removeBucket } from '@wharf/test-utils/s3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { serveConfig, type TempDir, tempDir } from './helpers.js';

/*
 * The built `wharf` command (`dist/`, what npm installs), where every other server test runs the
 * sources. The bundle compiles the workspace packages in and leaves third-party modules to the
 * installed dependencies; a module the server's package.json does not list gets inlined instead,
 * and an inlined CommonJS module that calls require() fails at run time, only on the code path
 * that loads it (the presigner behind S3 redirects did, with every blob GET answering 500).
 */

const DIST = join(REPO_ROOT, 'packages/server/dist');
const BUNDLE = join(DIST, 'cli.js');

beforeAll(() => {
  if (!existsSync(BUNDLE))
    throw new Error(`${BUNDLE} is missing: run \`pnpm build\` first (\`pnpm test\` does)`);
});

/** Starts the built command with a configuration file and nothing from the shell's variables. */
function serveBundle(config: string): Promise<ServerProcess> {
  return serveConfig(config, {}, [], BUNDLE);
}

/** Pushes a blob in one POST; resolves its digest. */
async function pushBlob(
  url: string,
  repo: string,
  bytes: Buffer,
  headers: Record<string, string> = {},
): Promise<string> {
  const digest = sha256(bytes);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    body: bytes,
  });
  expect(res.status, await res.text()).toBe(201);
  return digest;
}

describe('the built wharf command', () => {
  let work: TempDir;
  let server: ServerProcess | undefined;

  beforeEach(async () => {
    work = await tempDir('wharf-bundle-');
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await work.remove();
  });

  it('inlines no third-party module (they resolve from its dependencies)', () => {
    const inlined = new Set<string>();
    for (const name of readdirSync(DIST).filter((file) => file.endsWith('.js'))) {
      const text = readFileSync(join(DIST, name), 'utf8');
      // esbuild names each inlined module by its path (`// ../../node_modules/…`).
      for (const match of text.matchAll(/node_modules\/(?:\.pnpm\/)?((?:@[^/]+\/)?[^/"\s]+)/g))
        inlined.add(match[1]!);
    }
    expect([...inlined]).toEqual([]);
  });

  it('serves a filesystem root behind htpasswd: 401 without credentials, the bytes with them', async () => {
    const password = randomBytes(9).toString('base64url');
    const htpasswd = await work.file('htpasswd', `alice:${await hashPassword(password, 5)}\n`);
    const config = await work.file(
      'config.yml',
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(work.dir, 'root')}`,
        'auth:',
        '  htpasswd:',
        '    realm: bundle',
        `    path: ${htpasswd}`,
        'http:',
        '  addr: 127.0.0.1:0',
        '',
      ].join('\n'),
    );
    server = await serveBundle(config);
    expect((await fetch(`${server.url}/v2/`)).status).toBe(401);
    const authorization = { Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` };
    const bytes = randomBytes(300_000);
    const digest = await pushBlob(server.url, 'bundle/fs', bytes, authorization);
    const res = await fetch(`${server.url}/v2/bundle/fs/blobs/${digest}`, { headers: authorization });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  const s3 = s3Env();
  it.skipIf(!s3)(
    'redirects blob GETs to the bucket with a distribution config (redirects on by default)',
    async () => {
      const env = s3!;
      const bucket = await createBucket(env, 'wharf-bundle');
      try {
        const config = await work.file(
          'config.yml',
          [
            'version: 0.1',
            'storage:',
            '  s3:',
            `    accesskey: ${env.accessKeyId}`,
            `    secretkey: ${env.secretAccessKey}`,
            `    region: ${env.region}`,
            `    regionendpoint: ${env.endpoint}`,
            `    bucket: ${bucket}`,
            'http:',
            '  addr: 127.0.0.1:0',
            '',
          ].join('\n'),
        );
        server = await serveBundle(config);
        const bytes = randomBytes(300_000);
        const digest = await pushBlob(server.url, 'bundle/s3', bytes);
        const res = await fetch(`${server.url}/v2/bundle/s3/blobs/${digest}`, { redirect: 'manual' });
        expect(res.status, await res.text()).toBe(307);
        const location = res.headers.get('location')!;
        expect(new URL(location).host).toBe(new URL(env.endpoint).host);
        const followed = await fetch(location);
        expect(followed.status).toBe(200);
        expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(digest);
      } finally {
        await server?.stop();
        server = undefined;
        await removeBucket(env, bucket);
      }
    },
  );
});
