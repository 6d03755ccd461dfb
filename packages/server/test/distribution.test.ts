import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { hashPassword } from '@wharf/auth';
import {
  hasTool,
  makeRealImage,
  OciClient,
  run,
  type ScratchDir,
  s3Env,
  scratch,
  sha256,
  withAuthorization,
  writeOciLayout,
} from '@wharf/test-utils';
import { createBucket, removeBucket } from '@wharf/test-utils/s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, serveConfig } from './helpers.js';

/**
 * Moving from docker-registry: same root, same config.yml, new binary. Debian's docker-registry
 * (distribution 2.8) writes a root through skopeo; wharf then serves it from the very same file.
 */

const tools = hasTool('docker-registry') && hasTool('skopeo');
const PASSWORD = randomBytes(9).toString('base64url');

/** Runs `docker-registry serve <config>` until it answers. */
async function dockerRegistry(
  config: string,
  url: string,
): Promise<{ stop(): Promise<void>; output(): string }> {
  // Its S3 driver trips over a CA bundle variable set for other tools.
  const { AWS_CA_BUNDLE: _ignored, ...env } = process.env;
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
  }
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited:\n${output}`);
    const status = await fetch(`${url}/v2/`).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 401 || status === 200) return { stop, output: () => output };
    if (i > 200) {
      await stop();
      throw new Error(`docker-registry did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const STORAGES = [
  {
    name: 'filesystem',
    available: () => true,
    prepare: async (work: string) => ({
      yaml: `  filesystem:\n    rootdirectory: ${join(work, 'root')}\n`,
      cleanup: async () => {},
    }),
  },
  {
    name: 's3',
    available: () => s3Env() !== undefined,
    prepare: async () => {
      const env = s3Env()!;
      const bucket = await createBucket(env, 'wharf-distribution');
      return {
        yaml: [
          '  s3:',
          `    accesskey: ${env.accessKeyId}`,
          `    secretkey: ${env.secretAccessKey}`,
          `    region: ${env.region}`,
          `    regionendpoint: ${env.endpoint}`,
          `    bucket: ${bucket}`,
          '    secure: false',
          '    v4auth: true',
          '    rootdirectory: /registry',
          '',
        ].join('\n'),
        cleanup: () => removeBucket(env, bucket),
      };
    },
  },
];

describe.skipIf(!tools).each(STORAGES)('a docker-registry config.yml on $name', (storage) => {
  let work: ScratchDir;
  let cleanup: () => Promise<void> = async () => {};

  beforeEach(async () => {
    work = await scratch('wharf-distribution-');
  });
  afterEach(async () => {
    await cleanup();
    await work.remove();
  });

  it.skipIf(!storage.available())(
    'starts wharf unchanged on the root docker-registry wrote',
    async () => {
      const prepared = await storage.prepare(work.dir);
      cleanup = prepared.cleanup;
      const htpasswd = join(work.dir, 'htpasswd');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(htpasswd, `alice:${await hashPassword(PASSWORD, 5)}\n`);
      const port = await freePort();
      const config = join(work.dir, 'config.yml');
      await writeFile(
        config,
        `version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
${prepared.yaml}  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: ${htpasswd}
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`,
      );
      const host = `127.0.0.1:${port}`;
      const image = makeRealImage([{ randomFile: 300 * 1024 }, {}]);
      const layout = join(work.dir, 'layout');
      await writeOciLayout(layout, [{ tag: 'v1', image }]);
      const creds = `--dest-creds=alice:${PASSWORD}`;

      const distribution = await dockerRegistry(config, `http://${host}`);
      try {
        await run(
          'skopeo',
          ['copy', '--dest-tls-verify=false', creds, `oci:${layout}:v1`, `docker://${host}/team/app:v1`],
          {
            env: work.env,
          },
        );
        await run(
          'skopeo',
          ['copy', '--dest-tls-verify=false', creds, `oci:${layout}:v1`, `docker://${host}/team/app:old`],
          {
            env: work.env,
          },
        );
      } finally {
        await distribution.stop();
      }

      // The same file, unchanged.
      const wharf = await serveConfig(config);
      try {
        expect(wharf.url).toBe(`http://${host}`);
        const anonymous = await fetch(`${wharf.url}/v2/`);
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="basic-realm"');
        expect(anonymous.headers.get('x-content-type-options')).toBe('nosniff');
        const client = new OciClient(
          wharf.url,
          withAuthorization(`Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`),
        );
        expect(await client.tags('team/app')).toEqual(['old', 'v1']);
        const raw = await run(
          'skopeo',
          [
            'inspect',
            '--tls-verify=false',
            `--creds=alice:${PASSWORD}`,
            '--raw',
            `docker://${host}/team/app:v1`,
          ],
          {
            env: work.env,
          },
        );
        expect(sha256(Buffer.from(raw.stdout))).toBe(image.manifest.digest);
        for (const blob of [image.config, ...image.layers]) {
          expect((await client.getBlob('team/app', blob.digest)).equals(blob.bytes)).toBe(true);
        }
        // Deletes are enabled in the file: a tag goes away.
        const deleted = await client.request('DELETE', '/v2/team/app/manifests/old');
        expect(deleted.status).toBe(202);
        expect(await client.tags('team/app')).toEqual(['v1']);
      } finally {
        await wharf.stop();
      }
    },
    180_000,
  );
});
