import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { makeImage, OciClient, startServer } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { DEMO_USERS, hashPassword, parseUsers, verifyPassword } from '../src/users.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** An OCI client that sends the user's credentials with every request. */
function clientAs(url: string, user: string, password: string): OciClient {
  return new OciClient(url, (input, init) =>
    fetch(input, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), ...basic(user, password) },
    }),
  );
}

describe('passwords', () => {
  it('hashes with a fresh salt and verifies only the right password', async () => {
    const a = await hashPassword('s3cret');
    const b = await hashPassword('s3cret');
    expect(a).toMatch(/^scrypt\$[\w-]+\$[\w-]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('s3cret', a)).toBe(true);
    expect(await verifyPassword('s3cret!', a)).toBe(false);
    expect(await verifyPassword('wonderland', DEMO_USERS.get('alice')!)).toBe(true);
    expect(await verifyPassword('anything', 'plain-text')).toBe(false);
  });

  it('reads users from name:password lists and refuses bad names', async () => {
    const users = await parseUsers('carol:pw1, dave:pw2');
    expect([...users.keys()]).toEqual(['carol', 'dave']);
    expect(await verifyPassword('pw2', users.get('dave')!)).toBe(true);
    await expect(parseUsers('Carol:pw')).rejects.toThrow(/user name/);
    await expect(parseUsers('')).rejects.toThrow(/no users/);
  });
});

describe('express-app', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const { app } = createApp({ users: DEMO_USERS });
    server = createServer(app);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves its own pages and API', async () => {
    const home = await fetch(`${url}/`);
    expect(home.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await home.text()).toMatch(/<h1>wharf express-app<\/h1>/);
    expect(await (await fetch(`${url}/api/health`)).json()).toEqual({ status: 'ok' });
    const anonymous = await fetch(`${url}/api/me`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="wharf express-app"/);
    const me = await fetch(`${url}/api/me`, { headers: basic('alice', 'wonderland') });
    expect(await me.json()).toEqual({ user: 'alice', namespace: 'alice/' });
    expect(await (await fetch(`${url}/account`, { headers: basic('bob', 'builder') })).text()).toMatch(
      /Hello, bob/,
    );
  });

  it('asks for credentials on /v2/ and refuses wrong ones', async () => {
    const anonymous = await fetch(`${url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="wharf express-app"/);
    expect(((await anonymous.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'UNAUTHORIZED',
    );
    expect((await fetch(`${url}/v2/`, { headers: basic('alice', 'builder') })).status).toBe(401);
    expect((await fetch(`${url}/v2/`, { headers: basic('mallory', 'builder') })).status).toBe(401);
    expect((await fetch(`${url}/v2/`, { headers: basic('alice', 'wonderland') })).status).toBe(200);
  });

  it('lets users push to their own namespace only, and every signed-in user pull', async () => {
    const alice = clientAs(url, 'alice', 'wonderland');
    const bob = clientAs(url, 'bob', 'builder');
    const image = makeImage({ layers: [500_000, 100] });
    await alice.pushImage('alice/web', 'v1', image, 'chunked');
    await bob.pullImage('alice/web', 'v1', image);
    await expect(bob.pushImage('alice/web', 'v2', makeImage())).rejects.toThrow(/403/);
    const denied = await bob.request('DELETE', `/v2/alice/web/manifests/${image.manifest.digest}`);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
    await bob.pushImage('bob/tools', 'v1', image);
    expect(await alice.tags('bob/tools')).toEqual(['v1']);
    const deleted = await alice.request('DELETE', `/v2/alice/web/manifests/${image.manifest.digest}`);
    expect(deleted.status).toBe(202);
  });
});

describe('express-app main', () => {
  it('starts from the command line with users from the environment and serves both sides', async () => {
    const app = await startServer({
      main: MAIN,
      env: { EXPRESS_APP_USERS: 'erin:pa55', WHARF_STORAGE: 'memory' },
    });
    try {
      expect(app.output()).toMatch(/^express-app listening on http:\/\/127\.0\.0\.1:\d+$/m);
      expect(await (await fetch(`${app.url}/api/health`)).json()).toEqual({ status: 'ok' });
      const erin = clientAs(app.url, 'erin', 'pa55');
      const image = makeImage();
      await erin.pushImage('erin/app', 'v1', image);
      await erin.pullImage('erin/app', 'v1', image);
      expect((await fetch(`${app.url}/v2/`, { headers: basic('alice', 'wonderland') })).status).toBe(401);
    } finally {
      await app.stop();
    }
  });
});
