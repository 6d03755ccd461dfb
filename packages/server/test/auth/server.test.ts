import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeImage, OciClient, type ServerProcess, startServer } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines } from '../helpers.js';
import { scratch, USERS, writeHtpasswd } from './helpers.js';

const basicHeader = (user: keyof typeof USERS, password: string = USERS[user]) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function claims(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>,
  };
}

describe('the server with token auth configured in full', () => {
  let work: Awaited<ReturnType<typeof scratch>>;
  let server: ServerProcess;

  beforeAll(async () => {
    work = await scratch('wharf-auth-server-');
    const htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd);
    const key = join(work.dir, 'key.pem');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const rules = join(work.dir, 'rules.json');
    await writeFile(
      rules,
      JSON.stringify([{ users: 'bob', repositories: 'team/**', actions: ['pull', 'push'] }]),
    );
    server = await startServer({
      env: {
        WHARF_STORAGE: 'memory',
        WHARF_AUTH: 'token',
        WHARF_HTPASSWD: htpasswd,
        WHARF_AUTH_REALM: 'http://auth.example/auth/token',
        WHARF_AUTH_SERVICE: 'registry.example',
        WHARF_AUTH_ISSUER: 'issuer.example',
        WHARF_TOKEN_KEY: key,
        WHARF_TOKEN_TTL: '120',
        WHARF_AUTH_ANONYMOUS_PULL: '1',
        WHARF_AUTH_RULES: rules,
        WHARF_AUTH_ADMINS: 'alice',
        WHARF_AUTH_RATE_LIMIT: '2/30',
      },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await work?.remove();
  });

  const token = async (authorization: string | undefined, ...scopes: string[]) => {
    const query = new URLSearchParams({ service: 'registry.example' });
    for (const scope of scopes) query.append('scope', scope);
    const res = await fetch(`${server.url}/auth/token?${query}`, {
      headers: authorization ? { Authorization: authorization } : {},
    });
    const body = (await res.json()) as { token?: string; expires_in?: number };
    return { res, body, token: body.token ?? '' };
  };

  it('challenges with the configured realm and service, and serves tokens at the realm’s path', async () => {
    const res = await fetch(`${server.url}/v2/team/app/tags/list`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="http://auth.example/auth/token",service="registry.example",scope="repository:team/app:pull"',
    );
    const grant = await token(
      basicHeader('bob'),
      'repository:team/app:pull,push',
      'repository:other/app:push',
    );
    expect(grant.res.status).toBe(200);
    expect(grant.body.expires_in).toBe(120);
    const { header, payload } = claims(grant.token);
    expect(header.alg).toBe('RS256');
    expect(payload).toMatchObject({
      iss: 'issuer.example',
      aud: 'registry.example',
      sub: 'bob',
      // other/app is not bob's to push: it is left out.
      access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    });
    // The old default path is not served when a realm is configured: it reaches the registry (404).
    expect((await fetch(`${server.url}/token`)).status).toBe(404);
  });

  it('applies the rules file, admins and anonymous pull', async () => {
    const admin = await token(basicHeader('alice'), 'repository:team/app:pull,push');
    const alice = new OciClient(server.url, (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as object), Authorization: `Bearer ${admin.token}` },
      }),
    );
    const image = makeImage();
    await alice.pushImage('team/app', 'v1', image);

    const anonymous = await token(undefined, 'repository:team/app:pull,push');
    expect(claims(anonymous.token).payload.access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
    ]);
    const reader = new OciClient(server.url, (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as object), Authorization: `Bearer ${anonymous.token}` },
      }),
    );
    await reader.pullImage('team/app', 'v1', image);
    expect((await reader.request('POST', '/v2/team/app/blobs/uploads/')).status).toBe(401);
  });

  it('rate-limits failed sign-ins over HTTP, and keeps secrets out of the server log', async () => {
    for (let i = 0; i < 2; i++) expect((await token(basicHeader('bob', `guess-${i}`))).res.status).toBe(401);
    const blocked = await token(basicHeader('bob'));
    expect(blocked.res.status).toBe(429);
    expect(Number(blocked.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(blocked.res.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    expect(blocked.body).toMatchObject({ errors: [{ code: 'TOOMANYREQUESTS' }] });

    const good = await token(basicHeader('alice'), 'repository:team/app:pull');
    const output = server.output();
    expect(output).toContain('authentication failed');
    // The token endpoint's requests are in the access log too, with a request id and no query.
    const tokenLines = logLines(output).filter((line) => line.access === true && line.path === '/auth/token');
    expect(tokenLines.map((line) => line.status)).toEqual(expect.arrayContaining([401, 429, 200]));
    for (const line of tokenLines) expect(line.reqId).toMatch(/^[0-9a-f-]{36}$/);
    for (const secret of [USERS.alice, USERS.bob, 'guess-0', good.token, good.token.split('.')[2]!]) {
      expect(output.includes(secret)).toBe(false);
    }
  });
});

describe('the server with basic auth', () => {
  let work: Awaited<ReturnType<typeof scratch>>;
  let server: ServerProcess;

  beforeAll(async () => {
    work = await scratch('wharf-auth-basic-server-');
    const htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd);
    server = await startServer({
      env: {
        // Its own storage root, removed with the scratch directory: never the quick start's ./data.
        WHARF_STORAGE: 'fs',
        WHARF_ROOT: join(work.dir, 'storage'),
        WHARF_AUTH: 'basic',
        WHARF_HTPASSWD: htpasswd,
        WHARF_AUTH_REALM: 'my registry',
        WHARF_AUTH_RULES: '[{"users":"*","repositories":"{user}/**","actions":["*"]}]',
      },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await work?.remove();
  });

  it('stores into its own root, not the working directory', () => {
    const config = logLines(server.output()).find((line) => line.msg === 'effective configuration');
    expect(config).toMatchObject({
      config: { storage: { filesystem: { rootdirectory: join(work.dir, 'storage') } } },
    });
  });

  it('uses the realm name, the inline rules, and leaves /token to the registry', async () => {
    const res = await fetch(`${server.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="my registry"');
    const alice = new OciClient(server.url, (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as object), Authorization: basicHeader('alice') },
      }),
    );
    await alice.pushImage('alice/app', 'v1', makeImage());
    const bob = await fetch(`${server.url}/v2/alice/app/tags/list`, {
      headers: { Authorization: basicHeader('bob') },
    });
    expect(bob.status).toBe(403);
    expect((await fetch(`${server.url}/token`)).status).toBe(404);
  });
});
