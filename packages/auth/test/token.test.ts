import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, type Registry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createTokenAuth,
  generateSigningKey,
  parseHtpasswd,
  publicJwk,
  type SigningKey,
  signToken,
  type TokenAuth,
  type TokenClaims,
  tokenAuth,
} from '../src/index.js';
import { basic, decodeJwt, htpasswdText, PASSWORDS, parseChallenge, RULES, segment } from './helpers.js';

const users = parseHtpasswd(htpasswdText());
const SERVICE = 'registry.test';
const ISSUER = 'wharf-test';
const REALM = 'https://auth.test/token';

interface Grant {
  status: number;
  headers: Record<string, string>;
  json: Record<string, unknown>;
  token: string;
}

async function requestToken(
  auth: TokenAuth,
  options: { user?: string; password?: string; scopes?: string[]; service?: string; client?: string } = {},
): Promise<Grant> {
  const query = new URLSearchParams({ service: options.service ?? SERVICE });
  for (const scope of options.scopes ?? []) query.append('scope', scope);
  const headers = new Headers();
  if (options.user !== undefined) headers.set('Authorization', basic(options.user, options.password ?? ''));
  const res = await auth.issuer.handle({
    method: 'GET',
    url: `/token?${query}`,
    headers,
    clientAddress: options.client ?? '198.51.100.7',
  });
  const json = JSON.parse(res.body) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, json, token: String(json.token ?? '') };
}

function bearer(registry: Registry, token?: string): OciClient {
  return new OciClient('http://registry.local', (input, init) => {
    const headers = new Headers(init?.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return registry.fetch(input, { ...init, headers });
  });
}

function claims(overrides: Partial<TokenClaims> = {}): TokenClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: 'alice',
    aud: SERVICE,
    exp: now + 300,
    nbf: now,
    iat: now,
    jti: 'test',
    access: [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }],
    ...overrides,
  };
}

describe('Docker token auth with the built-in issuer', () => {
  let key: SigningKey;
  let auth: TokenAuth;
  let registry: Registry;

  beforeEach(() => {
    key = generateSigningKey('ES256');
    auth = createTokenAuth({
      users,
      rules: RULES,
      service: SERVICE,
      issuer: ISSUER,
      realm: REALM,
      signingKey: key,
      anonymous: true,
      rateLimit: { attempts: 3, windowSeconds: 90 },
    });
    registry = createRegistry({ authorize: auth.authorize });
  });

  describe('challenges', () => {
    it.each([
      ['GET', '/v2/', undefined],
      ['GET', '/v2/alice/app/manifests/v1', 'repository:alice/app:pull'],
      ['HEAD', `/v2/alice/app/blobs/sha256:${'0'.repeat(64)}`, 'repository:alice/app:pull'],
      ['POST', '/v2/alice/app/blobs/uploads/', 'repository:alice/app:pull,push'],
      ['PUT', '/v2/alice/app/manifests/v1', 'repository:alice/app:pull,push'],
      ['DELETE', `/v2/alice/app/manifests/sha256:${'1'.repeat(64)}`, 'repository:alice/app:delete'],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
    ])('%s %s without a token: 401 Bearer with scope %s', async (method, path, scope) => {
      const res = await registry.fetch(path, { method, ...(method === 'PUT' ? { body: '{}' } : {}) });
      expect(res.status).toBe(401);
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      expect(challenge.scheme).toBe('Bearer');
      expect(challenge.params).toEqual({ realm: REALM, service: SERVICE, ...(scope ? { scope } : {}) });
      if (method !== 'HEAD') expect(await res.json()).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    });

    it('derives the realm from the Host header when none is configured', async () => {
      const derived = createTokenAuth({ users, rules: RULES, signingKey: key });
      const r = createRegistry({ authorize: derived.authorize });
      const res = await r.fetch('/v2/', { headers: { Host: '127.0.0.1:5123' } });
      expect(parseChallenge(res.headers.get('www-authenticate')).params).toEqual({
        realm: 'http://127.0.0.1:5123/token',
        service: 'wharf',
      });
      // A Host header that could break out of the quoted realm is not used.
      const odd = await r.fetch('/v2/', { headers: { Host: 'evil",x="y' } });
      expect(parseChallenge(odd.headers.get('www-authenticate')).params.realm).toBe('http://localhost/token');
    });
  });

  describe('the token endpoint', () => {
    it('grants the intersection of the requested scopes and the user’s rights', async () => {
      const grant = await requestToken(auth, {
        user: 'alice',
        password: PASSWORDS.alice,
        scopes: [
          'repository:alice/app:pull,push,delete',
          'repository:bob/app:pull,push',
          'repository:shared/tool:pull,push registry:catalog:*',
          'repository:alice/other:*',
        ],
      });
      expect(grant.status).toBe(200);
      expect(grant.headers['Cache-Control']).toBe('no-store');
      const { header, payload } = decodeJwt(grant.token);
      expect(header).toEqual({ typ: 'JWT', alg: 'ES256', kid: key.kid });
      expect(payload.access).toEqual([
        { type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] },
        { type: 'repository', name: 'shared/tool', actions: ['pull'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
        { type: 'repository', name: 'alice/other', actions: ['pull', 'push', 'delete'] },
      ]);
      expect(payload).toMatchObject({ iss: ISSUER, sub: 'alice', aud: SERVICE });
      expect(payload.exp).toBe((payload.iat as number) + 300);
      expect(payload.nbf).toBe(payload.iat);
      expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(grant.json).toEqual({
        token: grant.token,
        access_token: grant.token,
        expires_in: 300,
        issued_at: new Date((payload.iat as number) * 1000).toISOString(),
      });
      const again = await requestToken(auth, { user: 'alice', password: PASSWORDS.alice });
      expect(decodeJwt(again.token).payload.jti).not.toBe(payload.jti);
      expect(decodeJwt(again.token).payload.access).toEqual([]);
    });

    it('issues anonymous tokens that only ever pull what anonymous users may', async () => {
      const grant = await requestToken(auth, {
        scopes: [
          'repository:public/base:pull,push,delete',
          'repository:alice/app:pull',
          'registry:catalog:*',
        ],
      });
      expect(grant.status).toBe(200);
      expect(decodeJwt(grant.token).payload).toMatchObject({
        sub: '',
        access: [{ type: 'repository', name: 'public/base', actions: ['pull'] }],
      });
    });

    it('answers 401 with a Basic challenge without credentials when anonymous tokens are off', async () => {
      const closed = createTokenAuth({ users, rules: RULES, service: SERVICE, signingKey: key });
      const grant = await requestToken(closed, { scopes: ['repository:public/base:pull'] });
      expect(grant.status).toBe(401);
      expect(grant.headers['WWW-Authenticate']).toBe('Basic realm="wharf"');
      expect(grant.json).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    });

    it('refuses wrong passwords and unknown users with 401, another service with 400', async () => {
      for (const [user, password] of [
        ['alice', 'wrong'],
        ['mallory', PASSWORDS.alice],
      ]) {
        const grant = await requestToken(auth, { user, password, client: `client-${user}` });
        expect(grant.status).toBe(401);
        expect(grant.json).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
        expect(grant.token).toBe('');
      }
      const other = await requestToken(auth, {
        user: 'alice',
        password: PASSWORDS.alice,
        service: 'elsewhere',
      });
      expect(other.status).toBe(400);
    });

    it('supports the OAuth2 password grant (POST), and refuses other grants and methods', async () => {
      const form = new URLSearchParams({
        grant_type: 'password',
        username: 'bob',
        password: PASSWORDS.bob,
        service: SERVICE,
        scope: 'repository:bob/app:pull,push repository:alice/app:pull',
        client_id: 'test',
      });
      const res = await auth.issuer.handle({
        method: 'POST',
        url: '/token',
        headers: new Headers({ 'Content-Type': 'application/x-www-form-urlencoded' }),
        body: form.toString(),
      });
      expect(res.status).toBe(200);
      const { access_token } = JSON.parse(res.body) as { access_token: string };
      expect(decodeJwt(access_token).payload.access).toEqual([
        { type: 'repository', name: 'bob/app', actions: ['pull', 'push'] },
      ]);
      const refresh = await auth.issuer.handle({
        method: 'POST',
        url: '/token',
        headers: new Headers(),
        body: 'grant_type=refresh_token&refresh_token=x',
      });
      expect(refresh.status).toBe(400);
      const put = await auth.issuer.handle({ method: 'PUT', url: '/token', headers: new Headers() });
      expect(put.status).toBe(405);
      expect(put.headers.Allow).toBe('GET, POST');
    });

    it('signs with RS256 when given an RSA key (PEM)', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const rsa = createTokenAuth({
        users,
        rules: RULES,
        service: SERVICE,
        signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      });
      const grant = await requestToken(rsa, {
        user: 'alice',
        password: PASSWORDS.alice,
        scopes: ['repository:alice/app:pull'],
      });
      expect(decodeJwt(grant.token).header.alg).toBe('RS256');
      const r = createRegistry({ authorize: rsa.authorize });
      expect((await r.fetch('/v2/', { headers: { Authorization: `Bearer ${grant.token}` } })).status).toBe(
        200,
      );
    });

    it('rate-limits brute force per client and user: 429 TOOMANYREQUESTS with Retry-After', async () => {
      const attacker = '203.0.113.9';
      for (let i = 0; i < 3; i++) {
        const grant = await requestToken(auth, { user: 'alice', password: `guess-${i}`, client: attacker });
        expect(grant.status).toBe(401);
      }
      const blocked = await requestToken(auth, { user: 'alice', password: 'guess-4', client: attacker });
      expect(blocked.status).toBe(429);
      expect(blocked.json).toEqual({
        errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed sign-in attempts' }],
      });
      const retryAfter = Number(blocked.headers['Retry-After']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(90);
      // Even the right password is refused while blocked, so a lucky guess is not recognisable.
      const right = await requestToken(auth, { user: 'alice', password: PASSWORDS.alice, client: attacker });
      expect(right.status).toBe(429);
      expect(right.token).toBe('');
      // The real user elsewhere is unaffected, as is another user from the same address.
      expect((await requestToken(auth, { user: 'alice', password: PASSWORDS.alice })).status).toBe(200);
      expect(
        (await requestToken(auth, { user: 'bob', password: PASSWORDS.bob, client: attacker })).status,
      ).toBe(200);
    });

    it('rate-limits one address trying many user names', async () => {
      const sprayer = createTokenAuth({
        users,
        rules: RULES,
        service: SERVICE,
        signingKey: key,
        rateLimit: { attempts: 100, addressAttempts: 4, windowSeconds: 60 },
      });
      for (let i = 0; i < 4; i++) {
        expect(
          (await requestToken(sprayer, { user: `user${i}`, password: 'x', client: '203.0.113.10' })).status,
        ).toBe(401);
      }
      expect(
        (await requestToken(sprayer, { user: 'user9', password: 'x', client: '203.0.113.10' })).status,
      ).toBe(429);
    });
  });

  describe('the registry', () => {
    it('accepts its tokens for a push and a pull', async () => {
      const grant = await requestToken(auth, {
        user: 'alice',
        password: PASSWORDS.alice,
        scopes: ['repository:alice/app:pull,push'],
      });
      const alice = bearer(registry, grant.token);
      const image = makeImage({ layers: [1000, 3000] });
      await alice.pushImage('alice/app', 'v1', image, 'stream');
      await alice.pullImage('alice/app', 'v1', image);
      expect(
        (await registry.fetch('/v2/', { headers: { Authorization: `Bearer ${grant.token}` } })).status,
      ).toBe(200);
    });

    const invalid: Array<[string, () => string]> = [
      ['expired', () => signToken(claims({ exp: now() - 3600, iat: now() - 4000, nbf: now() - 4000 }), key)],
      ['not yet valid', () => signToken(claims({ nbf: now() + 3600 }), key)],
      ['for another audience', () => signToken(claims({ aud: 'other.registry' }), key)],
      ['from another issuer', () => signToken(claims({ iss: 'mallory' }), key)],
      ['signed by an unknown key', () => signToken(claims(), generateSigningKey())],
      [
        'with a tampered payload',
        () => {
          const [h, , s] = signToken(claims({ access: [] }), key).split('.');
          return `${h}.${segment(claims())}.${s}`;
        },
      ],
      [
        'with a tampered signature',
        () => {
          const [h, p, s] = signToken(claims(), key).split('.');
          const bytes = Buffer.from(s!, 'base64url');
          bytes[0]! ^= 0x80;
          return `${h}.${p}.${bytes.toString('base64url')}`;
        },
      ],
      ['with alg none', () => `${segment({ alg: 'none', kid: key.kid })}.${segment(claims())}.`],
      [
        'HS256-signed with the public key',
        () => {
          const input = `${segment({ alg: 'HS256', kid: key.kid })}.${segment(claims())}`;
          const pem = createPublicKey(key.key).export({ type: 'spki', format: 'pem' });
          return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
        },
      ],
      ['that is garbage', () => 'garbage'],
    ];

    it.each(invalid)('rejects a token %s: 401 with error="invalid_token"', async (_name, make) => {
      const token = make();
      const res = await registry.fetch('/v2/alice/app/blobs/uploads/', {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(401);
      expect(parseChallenge(res.headers.get('www-authenticate')).params).toEqual({
        realm: REALM,
        service: SERVICE,
        scope: 'repository:alice/app:pull,push',
        error: 'invalid_token',
      });
      expect(await res.json()).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
      const ping = await registry.fetch('/v2/', { headers: { Authorization: `Bearer ${token}` } });
      expect(ping.status).toBe(401);
      expect(await registry.storage.metadata.hasRepository('alice/app')).toBe(false);
    });

    it('accepts the untampered control token (so the rejections above are about the defect)', async () => {
      const res = await registry.fetch('/v2/alice/app/blobs/uploads/', {
        method: 'POST',
        headers: { Authorization: `Bearer ${signToken(claims(), key)}` },
      });
      expect(res.status).toBe(202);
    });

    it('rejects a wrong-scope token with 401 insufficient_scope and the scope needed, as distribution does', async () => {
      // Alice holds a pull-only token but may push: she should get a new token.
      const pullOnly = signToken(
        claims({ access: [{ type: 'repository', name: 'alice/app', actions: ['pull'] }] }),
        key,
      );
      let res = await registry.fetch('/v2/alice/app/blobs/uploads/', {
        method: 'POST',
        headers: { Authorization: `Bearer ${pullOnly}` },
      });
      expect(res.status).toBe(401);
      expect(parseChallenge(res.headers.get('www-authenticate')).params).toMatchObject({
        scope: 'repository:alice/app:pull,push',
        error: 'insufficient_scope',
      });
      // A token for another repository does not open this one.
      const otherRepo = signToken(
        claims({ access: [{ type: 'repository', name: 'alice/other', actions: ['*'] }] }),
        key,
      );
      res = await registry.fetch('/v2/alice/app/tags/list', {
        headers: { Authorization: `Bearer ${otherRepo}` },
      });
      expect(res.status).toBe(401);
      // Bob may never push to alice/app, whatever token he holds: still 401 insufficient_scope (a
      // new token would not help, but docker treats this as final and a bare 403 as retryable).
      const bobs = signToken(
        claims({ sub: 'bob', access: [{ type: 'repository', name: 'bob/app', actions: ['pull', 'push'] }] }),
        key,
      );
      res = await registry.fetch('/v2/alice/app/blobs/uploads/', {
        method: 'POST',
        headers: { Authorization: `Bearer ${bobs}` },
      });
      expect(res.status).toBe(401);
      expect(parseChallenge(res.headers.get('www-authenticate'))).toMatchObject({
        scheme: 'Bearer',
        params: { scope: 'repository:alice/app:pull,push', error: 'insufficient_scope' },
      });
      expect(await res.json()).toEqual({
        errors: [
          {
            code: 'UNAUTHORIZED',
            message: 'the token does not grant push access to repository "alice/app"',
            detail: [{ type: 'repository', name: 'alice/app', action: 'push' }],
          },
        ],
      });
      expect(await registry.storage.metadata.hasRepository('alice/app')).toBe(false);
      // A delete needs `delete`, not just push.
      res = await registry.fetch(`/v2/alice/app/manifests/sha256:${'2'.repeat(64)}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${signToken(claims(), key)}` },
      });
      expect(res.status).toBe(401);
      expect(parseChallenge(res.headers.get('www-authenticate')).params.scope).toBe(
        'repository:alice/app:delete',
      );
    });

    it('treats `*` in a token as every action on that repository', async () => {
      const star = signToken(
        claims({ access: [{ type: 'repository', name: 'alice/app', actions: ['*'] }] }),
        key,
      );
      const alice = bearer(registry, star);
      const image = makeImage();
      await alice.pushImage('alice/app', 'v1', image);
      const res = await alice.request('DELETE', `/v2/alice/app/manifests/${image.manifest.digest}`);
      expect(res.status).toBe(202);
    });
  });
});

describe('Docker token auth with an external issuer', () => {
  const external = generateSigningKey('RS256');
  const jwks = { keys: [publicJwk(external)] };
  const now = () => Math.floor(Date.now() / 1000);
  const token = (overrides: Partial<TokenClaims> = {}) =>
    signToken(
      {
        iss: 'https://issuer.example',
        sub: 'ci',
        aud: 'my-registry',
        exp: now() + 60,
        nbf: now(),
        iat: now(),
        jti: 'x',
        access: [{ type: 'repository', name: 'ci/builds', actions: ['pull', 'push'] }],
        ...overrides,
      },
      external,
    );

  it('verifies tokens against a JWKS and honours their access claim', async () => {
    const registry = createRegistry({
      authorize: tokenAuth({
        realm: 'https://issuer.example/token',
        service: 'my-registry',
        issuer: 'https://issuer.example',
        jwks,
      }),
    });
    const ci = bearer(registry, token());
    await ci.pushImage('ci/builds', 'v1', makeImage());
    expect((await ci.request('GET', '/v2/ci/other/tags/list')).status).toBe(401);
    const anonymous = bearer(registry, token({ sub: '' }));
    expect((await anonymous.request('GET', '/v2/ci/other/tags/list')).status).toBe(401);
    expect(
      (await bearer(registry, token({ iss: 'https://other.example' })).request('GET', '/v2/')).status,
    ).toBe(401);
  });
});

describe('the node:http token endpoint (loopback)', () => {
  let server: Server;
  let url: string;
  let auth: TokenAuth;

  beforeAll(async () => {
    auth = createTokenAuth({ users, rules: RULES, service: SERVICE, rateLimit: { attempts: 2 } });
    server = createServer(auth.issuer.listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('issues tokens over HTTP and limits failures by the socket address', async () => {
    const ok = await fetch(`${url}?service=${SERVICE}&scope=repository:bob/app:pull`, {
      headers: { Authorization: basic('bob', PASSWORDS.bob) },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/json');
    const body = (await ok.json()) as { token: string };
    expect(decodeJwt(body.token).payload.access).toEqual([
      { type: 'repository', name: 'bob/app', actions: ['pull'] },
    ]);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, { headers: { Authorization: basic('bob', 'nope') } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="wharf"');
    }
    const blocked = await fetch(url, { headers: { Authorization: basic('bob', PASSWORDS.bob) } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const post = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice }),
    });
    expect(post.status).toBe(200);
  });
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}
