import { createRegistry, type Registry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { anyOf, basicAuth, parseHtpasswd } from '../src/index.js';
import { basic, htpasswdText, PASSWORDS, parseChallenge, RULES } from './helpers.js';

const users = parseHtpasswd(htpasswdText());

function as(registry: Registry, authorization?: string): OciClient {
  return new OciClient('http://registry.local', (input, init) => {
    const headers = new Headers(init?.headers);
    if (authorization) headers.set('Authorization', authorization);
    return registry.fetch(input, { ...init, headers });
  });
}

describe('basic auth', () => {
  let registry: Registry;
  let admin: OciClient;

  beforeEach(() => {
    registry = createRegistry({ authorize: basicAuth({ users, rules: RULES, realm: 'wharf test' }) });
    admin = as(registry, basic('admin', PASSWORDS.admin));
  });

  it('asks anonymous clients for credentials at /v2/ with a Basic challenge', async () => {
    const res = await registry.fetch('/v2/');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="wharf test"');
    expect(await res.json()).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    expect(
      (await registry.fetch('/v2/', { headers: { Authorization: basic('bob', PASSWORDS.bob) } })).status,
    ).toBe(200);
  });

  it('answers 401 with the challenge for wrong or malformed credentials', async () => {
    for (const authorization of [
      basic('alice', 'wrong'),
      basic('nobody', PASSWORDS.alice),
      'Basic !!!',
      'Bearer abc',
      'Digest x',
    ]) {
      const res = await registry.fetch('/v2/alice/app/tags/list', {
        headers: { Authorization: authorization },
      });
      expect(res.status, authorization).toBe(401);
      expect(parseChallenge(res.headers.get('www-authenticate'))).toEqual({
        scheme: 'Basic',
        params: { realm: 'wharf test' },
      });
    }
  });

  it('lets a user push to their namespace and pull it back', async () => {
    const alice = as(registry, basic('alice', PASSWORDS.alice));
    const image = makeImage({ layers: [2048] });
    await alice.pushImage('alice/app', 'v1', image, 'chunked');
    await alice.pullImage('alice/app', 'v1', image);
    expect(await alice.tags('alice/app')).toEqual(['v1']);
  });

  it('refuses a signed-in user outside their rights with 403 DENIED, and stores nothing', async () => {
    const bob = as(registry, basic('bob', PASSWORDS.bob));
    const image = makeImage();
    const res = await bob.request('POST', `/v2/alice/app/blobs/uploads/?digest=${image.config.digest}`, {
      body: image.config.bytes,
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBeNull();
    // What was denied where, and a detail: docker retries a bare DENIED with the default message.
    expect(await res.json()).toEqual({
      errors: [
        {
          code: 'DENIED',
          message: 'push access to repository "alice/app" is denied',
          detail: [{ type: 'repository', name: 'alice/app', action: 'push' }],
        },
      ],
    });
    expect((await bob.putManifest('alice/app', 'v1', image.manifest, image.mediaType)).status).toBe(403);
    expect((await admin.request('HEAD', `/v2/alice/app/blobs/${image.config.digest}`)).status).toBe(404);
    expect(await registry.storage.blobs.stat(image.config.digest)).toBeNull();
    expect((await admin.request('GET', '/v2/alice/app/tags/list')).status).toBe(404);
  });

  it('names the signed-in user to access logs and metrics', async () => {
    const users: Array<string | undefined> = [];
    const observed = createRegistry({
      storage: registry.storage,
      authorize: basicAuth({ users: parseHtpasswd(htpasswdText()), rules: RULES }),
      observer: { requestFinished: (event) => users.push(event.user) },
    });
    await admin.pushImage('public/base', 'v1', makeImage());
    await as(observed, basic('alice', PASSWORDS.alice)).request('GET', '/v2/public/base/tags/list');
    await as(observed).request('GET', '/v2/public/base/tags/list');
    await as(observed, basic('bob', PASSWORDS.bob)).request('GET', '/v2/');
    expect(users).toEqual(['alice', undefined, 'bob']);
  });

  it('asks anonymous clients for credentials (401) where anonymous users may not go', async () => {
    await admin.pushImage('public/base', 'v1', makeImage());
    await admin.pushImage('shared/tool', 'v1', makeImage());
    const anonymous = as(registry);
    expect((await anonymous.request('GET', '/v2/public/base/manifests/v1')).status).toBe(200);
    const res = await anonymous.request('GET', '/v2/shared/tool/manifests/v1');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="wharf test"');
    expect(await res.json()).toEqual({
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          detail: [{ type: 'repository', name: 'shared/tool', action: 'pull' }],
        },
      ],
    });
    expect((await anonymous.request('POST', '/v2/public/base/blobs/uploads/')).status).toBe(401);
  });

  it('treats `Basic Og==` (empty user and password, sent by some clients) as anonymous', async () => {
    await admin.pushImage('public/base', 'v1', makeImage());
    expect((await as(registry, 'Basic Og==').request('GET', '/v2/public/base/tags/list')).status).toBe(200);
  });

  it('composes with host logic: a read-only switch on top', async () => {
    const readOnly = createRegistry({
      storage: registry.storage,
      authorize: async (context) => {
        if (context.action === 'push' || context.action === 'delete')
          return { allow: false, message: 'read-only' };
        return anyOf(basicAuth({ users, rules: RULES }))(context);
      },
    });
    const alice = as(readOnly, basic('alice', PASSWORDS.alice));
    const res = await alice.request('POST', '/v2/alice/app/blobs/uploads/');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'DENIED', message: 'read-only' }] });
  });

  it('authenticates once per request even when the catalog asks about every repository', async () => {
    let checks = 0;
    const counted = createRegistry({
      storage: registry.storage,
      authorize: basicAuth({
        users: (user, password) => {
          checks += 1;
          return users.verify(user, password);
        },
        cacheSeconds: 0,
        rules: RULES,
      }),
    });
    for (const repo of ['alice/a', 'alice/b', 'bob/c', 'shared/d'])
      await admin.pushImage(repo, 'v1', makeImage());
    const res = await counted.fetch('/v2/_catalog', {
      headers: { Authorization: basic('alice', PASSWORDS.alice) },
    });
    expect(await res.json()).toEqual({ repositories: ['alice/a', 'alice/b', 'shared/d'] });
    expect(checks).toBe(1);
  });

  it('rate-limits failed sign-ins per client: 429 TOOMANYREQUESTS with Retry-After, even for the right password', async () => {
    const limited = createRegistry({
      authorize: basicAuth({
        users,
        rules: RULES,
        rateLimit: { attempts: 3, windowSeconds: 120 },
        clientAddress: (request) => request.headers.get('x-test-client') ?? 'unknown',
      }),
    });
    const attempt = (password: string, client = '192.0.2.1') =>
      limited.fetch('/v2/', {
        headers: { Authorization: basic('alice', password), 'X-Test-Client': client },
      });
    for (let i = 0; i < 3; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
    const blocked = await attempt(PASSWORDS.alice);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(120);
    expect(await blocked.json()).toMatchObject({ errors: [{ code: 'TOOMANYREQUESTS' }] });
    // Another client is not affected.
    expect((await attempt(PASSWORDS.alice, '192.0.2.2')).status).toBe(200);
  });
});
