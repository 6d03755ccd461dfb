import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { hashPassword } from '@wharf/auth';
import {
  hasTool,
  makeRealImage,
  run,
  type ScratchDir,
  type ServerProcess,
  scratch,
  sha256,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, serveConfig } from './helpers.js';

const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Issues `<name>.crt` and `<name>.key`, signed by the CA in `dir`, with one X.509 extension. */
async function issue(dir: string, name: string, extension: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), `[v3]\n${extension}\n`);
  await openssl(['req', ...EC, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
    ].concat(['-out', `${name}.crt`, '-extensions', 'v3', '-extfile', `${name}.ext`]),
    dir,
  );
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, signed by the CA. */
async function makeCertificates(dir: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-days',
      '1',
      '-subj',
      '/CN=wharf test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  await issue(dir, 'server', 'subjectAltName=IP:127.0.0.1');
  await issue(dir, 'client', 'extendedKeyUsage=clientAuth');
}

describe.skipIf(!hasTool('openssl') || !hasTool('skopeo'))('TLS', () => {
  let work: ScratchDir;
  let server: ServerProcess;
  let certs: string;
  let htpasswd: string;
  const users = { alice: 'alice-password', bob: 'bob-password' };

  const tlsOptions = async (withClient: boolean) => ({
    ca: await readFile(join(certs, 'ca.crt')),
    ...(withClient
      ? { cert: await readFile(join(certs, 'client.crt')), key: await readFile(join(certs, 'client.key')) }
      : {}),
  });

  /** The certificate the server presents to a new connection, and the protocol it chose. */
  const handshake = async (withClient = true) =>
    new Promise<{ fingerprint: string; protocol: string | false | null }>((resolve, reject) => {
      void tlsOptions(withClient).then((options) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: Number(server.host.split(':')[1]),
          ...options,
          ALPNProtocols: ['h2', 'http/1.1'],
        });
        socket.once('secureConnect', () => {
          resolve({
            fingerprint: socket.getPeerX509Certificate()!.fingerprint256,
            protocol: socket.alpnProtocol,
          });
          socket.destroy();
        });
        socket.once('error', reject);
      });
    });

  beforeAll(async () => {
    work = await scratch('wharf-tls-');
    certs = join(work.dir, 'certs');
    await mkdir(certs);
    await makeCertificates(certs);
    htpasswd = join(work.dir, 'htpasswd');
    await writeFile(htpasswd, `alice:${await hashPassword(users.alice, 5)}\n`);
    const config = join(work.dir, 'config.yml');
    await writeFile(
      config,
      `storage: { filesystem: { rootdirectory: ${join(work.dir, 'root')} } }
http:
  addr: 127.0.0.1:0
  tls:
    certificate: ${join(certs, 'server.crt')}
    key: ${join(certs, 'server.key')}
    clientcas: [${join(certs, 'ca.crt')}]
auth:
  htpasswd: { realm: wharf, path: ${htpasswd} }
`,
    );
    server = await serveConfig(config);
  });

  afterAll(async () => {
    await server?.stop();
    await work?.remove();
  });

  it('serves HTTPS with HTTP/2 and requires a client certificate signed by the client CA', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await handshake()).protocol).toBe('h2');
    // Without a client certificate the handshake may complete (TLS 1.3), but no request is served.
    const anonymous = http2Connect(server.url, await tlsOptions(false));
    anonymous.on('error', () => {});
    try {
      await expect(
        new Promise((resolve, reject) => {
          const request = anonymous.request({ ':path': '/v2/' });
          request.once('response', resolve);
          request.once('error', reject);
          request.end();
        }),
      ).rejects.toThrow();
    } finally {
      anonymous.destroy();
    }
    const session = http2Connect(server.url, await tlsOptions(true));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const request = session.request({
          ':path': '/v2/',
          authorization: `Basic ${Buffer.from(`alice:${users.alice}`).toString('base64')}`,
        });
        request.once('response', (headers) => resolve(Number(headers[':status'])));
        request.once('error', reject);
        request.resume();
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('takes a push and a pull from skopeo, verifying the server against the CA', async () => {
    // skopeo's certificate directory: *.crt are trusted CAs, client.cert/client.key its own pair.
    const certDir = join(work.dir, 'skopeo-certs');
    await mkdir(certDir);
    await copyFile(join(certs, 'ca.crt'), join(certDir, 'ca.crt'));
    await copyFile(join(certs, 'client.crt'), join(certDir, 'client.cert'));
    await copyFile(join(certs, 'client.key'), join(certDir, 'client.key'));
    const image = makeRealImage([{ randomFile: 256 * 1024 }]);
    const layout = join(work.dir, 'layout');
    await writeOciLayout(layout, [{ tag: 'v1', image }]);
    const ref = `docker://${server.host}/alice/tls:v1`;
    const creds = `alice:${users.alice}`;
    await run(
      'skopeo',
      ['copy', `--dest-cert-dir=${certDir}`, `--dest-creds=${creds}`, `oci:${layout}:v1`, ref],
      {
        env: work.env,
      },
    );
    const raw = await run('skopeo', ['inspect', '--raw', `--cert-dir=${certDir}`, `--creds=${creds}`, ref], {
      env: work.env,
    });
    expect(sha256(Buffer.from(raw.stdout))).toBe(image.manifest.digest);
    // Without the CA, skopeo refuses the server's certificate.
    await expect(
      run('skopeo', ['inspect', '--raw', `--creds=${creds}`, ref], { env: work.env, timeoutMs: 60_000 }),
    ).rejects.toThrow(/certificate/i);
  });

  it('reloads the certificate and the htpasswd file on SIGHUP', async () => {
    const before = await handshake();
    // A new server certificate (same CA) and a new user list.
    await issue(certs, 'renewed', 'subjectAltName=IP:127.0.0.1');
    await rename(join(certs, 'renewed.crt'), join(certs, 'server.crt'));
    await rename(join(certs, 'renewed.key'), join(certs, 'server.key'));
    await writeFile(htpasswd, `bob:${await hashPassword(users.bob, 5)}\n`);
    const renewed = new X509Certificate(await readFile(join(certs, 'server.crt'))).fingerprint256;
    expect(renewed).not.toBe(before.fingerprint);

    process.kill(server.pid, 'SIGHUP');
    for (let i = 0; i < 100 && !server.output().includes('reloaded the TLS certificate'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(logLines(server.output()).map((line) => line.msg)).toContain(
      'reloaded the TLS certificate and the htpasswd file',
    );
    expect((await handshake()).fingerprint).toBe(renewed);
    const status = async (user: keyof typeof users) => {
      const session = http2Connect(server.url, await tlsOptions(true));
      try {
        return await new Promise<number>((resolve, reject) => {
          const request = session.request({
            ':path': '/v2/',
            authorization: `Basic ${Buffer.from(`${user}:${users[user]}`).toString('base64')}`,
          });
          request.once('response', (headers) => resolve(Number(headers[':status'])));
          request.once('error', reject);
          request.resume();
        });
      } finally {
        session.close();
      }
    };
    expect(await status('bob')).toBe(200);
    expect(await status('alice')).toBe(401);
  });
});
