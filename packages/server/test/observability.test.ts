import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { hashPassword } from '@wharf/auth';
import { makeImage, OciClient, type ServerProcess, s3Env, withAuthorization } from '@wharf/test-utils';
import { removeBucket, s3Client } from '@wharf/test-utils/s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugUrlOf, logLines, metric, serveConfig, type TempDir, tempDir, wharf } from './helpers.js';

const PASSWORD = 'correct horse battery staple';

describe('a server with basic auth, metrics and JSON logs', () => {
  let temp: TempDir;
  let server: ServerProcess;
  let debug: string;
  let root: string;
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  beforeAll(async () => {
    temp = await tempDir('wharf-observe-');
    root = join(temp.dir, 'root');
    const htpasswd = await temp.file('htpasswd', `alice:${await hashPassword(PASSWORD, 5)}\n`);
    const config = await temp.file(
      'config.yml',
      `version: 0.1
log:
  level: info
  formatter: json
  fields: { service: registry }
storage:
  filesystem: { rootdirectory: ${root} }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:0
  headers: { X-Content-Type-Options: [nosniff] }
  debug:
    addr: 127.0.0.1:0
    prometheus: { enabled: true }
auth:
  htpasswd: { realm: test, path: ${htpasswd} }
health:
  storagedriver: { enabled: true, interval: 100ms, threshold: 2 }
`,
    );
    server = await serveConfig(config);
    debug = debugUrlOf(server);
  });

  afterAll(async () => {
    await server?.stop();
    await temp?.remove();
  });

  it('logs one JSON access line per request, with the request id and user, never a password', async () => {
    const alice = new OciClient(server.url, withAuthorization(basic('alice', PASSWORD)));
    const image = makeImage({ layers: [2048] });
    await alice.pushImage('alice/app', 'v1', image);
    const res = await fetch(`${server.url}/v2/alice/app/manifests/v1`, {
      headers: { Authorization: basic('alice', PASSWORD), 'X-Request-Id': 'trace-me-1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('trace-me-1');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await res.arrayBuffer();
    const wrong = await fetch(`${server.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: basic('alice', 'not-the-password') },
    });
    expect(wrong.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const lines = logLines(server.output());
    const access = lines.filter((line) => line.access === true);
    const pull = access.find((line) => line.reqId === 'trace-me-1');
    expect(pull).toMatchObject({
      level: 'info',
      service: 'registry',
      method: 'GET',
      path: '/v2/alice/app/manifests/v1',
      status: 200,
      bytesIn: 0,
      bytesOut: image.manifest.bytes.length,
      user: 'alice',
      route: 'manifest',
      repository: 'alice/app',
    });
    expect(typeof pull?.durationSeconds).toBe('number');
    const put = access.find((line) => line.method === 'PUT' && line.route === 'manifest');
    expect(put).toMatchObject({ status: 201, bytesIn: image.manifest.bytes.length, user: 'alice' });
    expect(
      access.find((line) => line.status === 401 && line.path === '/v2/alice/app/tags/list'),
    ).toBeDefined();
    for (const line of access) {
      expect(Object.keys(line).sort()).toEqual(
        expect.arrayContaining([
          'reqId',
          'method',
          'path',
          'status',
          'bytesIn',
          'bytesOut',
          'durationSeconds',
        ]),
      );
    }
    expect(server.output()).not.toContain(PASSWORD);
    expect(server.output()).not.toContain('not-the-password');
    expect(server.output()).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
  });

  it('serves metrics with distribution’s names, and counts pushes, pulls and auth failures', async () => {
    const alice = new OciClient(server.url, withAuthorization(basic('alice', PASSWORD)));
    const image = makeImage({ layers: [10_000, 20_000] });
    const pushedBefore = await metric(debug, 'wharf_pushed_bytes_total');
    const pulledBefore = await metric(debug, 'wharf_pulled_bytes_total');
    const manifestPuts = await metric(debug, 'registry_http_requests_total', {
      method: 'PUT',
      code: '201',
      handler: 'manifest',
    });
    await alice.pushImage('alice/metrics', 'v1', image);
    await alice.pullImage('alice/metrics', 'v1', image);
    const blobBytes = [image.config, ...image.layers].reduce((sum, blob) => sum + blob.bytes.length, 0);
    const total = blobBytes + image.manifest.bytes.length;
    // A response is counted when the server has finished sending it, which can be a moment after
    // the client has read its last byte: poll rather than read once.
    await expect.poll(() => metric(debug, 'wharf_pushed_bytes_total')).toBe(pushedBefore + total);
    await expect.poll(() => metric(debug, 'wharf_pulled_bytes_total')).toBe(pulledBefore + total);
    await expect
      .poll(() =>
        metric(debug, 'registry_http_requests_total', { method: 'PUT', code: '201', handler: 'manifest' }),
      )
      .toBe(manifestPuts + 1);
    expect(
      await metric(debug, 'registry_http_request_duration_seconds_count', { method: 'GET', handler: 'blob' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      await metric(debug, 'registry_storage_action_seconds_count', {
        driver: 'filesystem',
        action: 'blobs.put',
      }),
    ).toBeGreaterThanOrEqual(1);
    await expect.poll(() => metric(debug, 'registry_http_in_flight_requests')).toBe(0);
    await expect.poll(() => metric(debug, 'wharf_uploads_in_progress')).toBe(0);

    const failures = await metric(debug, 'wharf_auth_failures_total', { reason: 'credentials' });
    const bad = await fetch(`${server.url}/v2/`, { headers: { Authorization: basic('alice', 'guess') } });
    expect(bad.status).toBe(401);
    await expect
      .poll(() => metric(debug, 'wharf_auth_failures_total', { reason: 'credentials' }))
      .toBe(failures + 1);
    // Labels are bounded: no repository names unless enabled.
    expect(await (await fetch(`${debug}/metrics`)).text()).not.toContain('alice/metrics');
  });

  it('answers malformed HTTP with the spec’s JSON error body, and counts it', async () => {
    const before = await metric(debug, 'wharf_http_client_errors_total', { status: '400' });
    const { hostname, port } = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write('GET /v2/ HTTP/1.1\r\nHost: registry\r\nthis is not a header\r\n\r\n');
      });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    });
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toContain('Content-Type: application/json');
    expect(JSON.parse(body)).toMatchObject({
      errors: [{ code: 'UNSUPPORTED', message: 'malformed HTTP request' }],
    });
    expect(await metric(debug, 'wharf_http_client_errors_total', { status: '400' })).toBe(before + 1);
  });

  it('answers /healthz and /readyz on both addresses; /readyz turns 503 while storage is gone', async () => {
    for (const base of [server.url, debug]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }
    const waitFor = async (status: number) => {
      for (let i = 0; i < 100; i++) {
        if ((await fetch(`${server.url}/readyz`)).status === status) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`/readyz never answered ${status}`);
    };
    const moved = `${root}.away`;
    await rename(root, moved);
    try {
      await waitFor(503);
      expect((await fetch(`${debug}/readyz`)).status).toBe(503);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await rename(moved, root);
    }
    await waitFor(200);
    expect((await fetch(`${debug}/readyz`)).status).toBe(200);
    const lines = logLines(server.output()).map((line) => line.msg);
    expect(lines).toContain('storage does not answer: not ready');
    expect(lines).toContain('storage answers again: ready');
  });

  it('printed the effective configuration at start', () => {
    const config = logLines(server.output()).find((line) => line.msg === 'effective configuration');
    expect(config).toMatchObject({
      config: {
        storage: { filesystem: { rootdirectory: root }, delete: { enabled: true } },
        http: { debug: { prometheus: { enabled: true, path: '/metrics' } } },
      },
    });
  });
});

describe('log formats', () => {
  it('writes readable text with log.formatter text', async () => {
    const temp = await tempDir('wharf-text-');
    try {
      const config = await temp.file(
        'config.yml',
        `log: { formatter: text }
storage: { inmemory: {} }
http: { addr: '127.0.0.1:0', secret: hmac-secret-value }
`,
      );
      const server = await serveConfig(config);
      try {
        await fetch(`${server.url}/v2/`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const output = server.output();
        expect(output).toMatch(/^\S+Z INFO {2}wharf listening on http:\/\/127\.0\.0\.1:\d+/m);
        expect(output).toMatch(
          /^\S+Z INFO {2}GET \/v2\/ 200 access=true reqId=\S+ method=GET path=\/v2\/ status=200/m,
        );
        expect(output).not.toContain('hmac-secret-value');
      } finally {
        await server.stop();
      }
    } finally {
      await temp.remove();
    }
  });
});

describe.skipIf(!s3Env())('a server on S3', () => {
  it('refuses to start with wrong credentials in one line that says so', async () => {
    const env = s3Env()!;
    const temp = await tempDir('wharf-s3-denied-');
    try {
      const config = await temp.file(
        'config.yml',
        [
          'storage:',
          '  s3:',
          `    regionendpoint: ${env.endpoint}`,
          `    region: ${env.region}`,
          `    accesskey: ${env.accessKeyId}`,
          '    secretkey: not-the-secret',
          '    bucket: wharf-denied',
          '',
        ].join('\n'),
      );
      // The S3_* variables would override the file's credentials.
      const result = await wharf(['serve', config], {
        S3_ENDPOINT: undefined,
        S3_REGION: undefined,
        S3_ACCESS_KEY_ID: undefined,
        S3_SECRET_ACCESS_KEY: undefined,
      });
      expect(result.code).toBe(1);
      const lines = result.stderr.split('\n').filter((line) => line.startsWith('wharf:'));
      expect(lines).toEqual([
        `wharf: storage: bucket "wharf-denied" at ${env.endpoint}: access denied (403); check the access key, secret key and region`,
      ]);
      expect(result.stderr).not.toContain('not-the-secret');
    } finally {
      await temp.remove();
    }
  });

  it('turns /readyz to 503 while the bucket is gone, and redacts the secret key it was given', async () => {
    const env = s3Env()!;
    const bucket = `wharf-readyz-${randomBytes(4).toString('hex')}`;
    const client = s3Client(env);
    const temp = await tempDir('wharf-s3-readyz-');
    try {
      const config = await temp.file(
        'config.yml',
        `storage:
  s3:
    bucket: ${bucket}
    region: ${env.region}
    regionendpoint: ${env.endpoint}
    forcepathstyle: true
    accesskey: ${env.accessKeyId}
    secretkey: ${env.secretAccessKey}
http: { addr: '127.0.0.1:0' }
health:
  storagedriver: { interval: 100ms }
`,
      );
      const server = await serveConfig(config);
      try {
        const status = async () => (await fetch(`${server.url}/readyz`)).status;
        expect(await status()).toBe(200);
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        await waitUntil(async () => (await status()) === 503);
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        await waitUntil(async () => (await status()) === 200);
        const effective = logLines(server.output()).find((line) => line.msg === 'effective configuration');
        expect(effective).toMatchObject({ config: { storage: { s3: { secretkey: '[redacted]', bucket } } } });
        expect(server.output()).not.toContain(env.secretAccessKey);
      } finally {
        await server.stop();
      }
    } finally {
      await removeBucket(env, bucket);
      client.destroy();
      await temp.remove();
    }
  });
});

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('timed out');
}
