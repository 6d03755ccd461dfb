import { createRegistry } from '@wharf/core';
import { makeImage, OciClient } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { basicAuth, createTokenAuth, generateSigningKey, parseHtpasswd, signToken } from '../src/index.js';
import { basic, capturingLogger, htpasswdText, PASSWORDS, RULES } from './helpers.js';

const users = parseHtpasswd(htpasswdText());

/** Every form a secret could take in a log line. */
function secretForms(secrets: readonly string[]): string[] {
  return secrets.flatMap((secret) => [
    secret,
    Buffer.from(secret).toString('base64'),
    encodeURIComponent(secret),
    // A JWT's signature alone is enough to be a leak.
    ...(secret.split('.').length === 3 ? [secret.split('.')[2]!] : []),
  ]);
}

function expectNoSecrets(lines: readonly string[], secrets: readonly string[]): void {
  const text = lines.join('\n');
  for (const form of secretForms(secrets))
    expect(text.includes(form), `log contains a secret (${form.length} chars)`).toBe(false);
  for (const [user, password] of Object.entries(PASSWORDS)) {
    expect(text).not.toContain(Buffer.from(`${user}:${password}`).toString('base64'));
  }
}

describe('no credentials or tokens in logs', () => {
  it('basic auth: failing, succeeding and rate-limited requests', async () => {
    const { logger, lines } = capturingLogger();
    const registry = createRegistry({
      logger,
      authorize: basicAuth({ users, rules: RULES, logger, rateLimit: { attempts: 2 } }),
    });
    const send = (path: string, authorization: string, init: RequestInit = {}) =>
      registry.fetch(path, { ...init, headers: { Authorization: authorization } });
    const wrong = 'wrong-password-that-must-not-be-logged';
    expect((await send('/v2/', basic('alice', wrong))).status).toBe(401);
    expect((await send('/v2/', basic('bob', `${PASSWORDS.alice}`))).status).toBe(401);
    expect((await send('/v2/', basic(PASSWORDS.admin, 'password-typed-as-user'))).status).toBe(401);
    expect(
      (await send('/v2/alice/x/blobs/uploads/', basic('bob', PASSWORDS.bob), { method: 'POST' })).status,
    ).toBe(403);
    const alice = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(input, {
        ...init,
        headers: { ...init?.headers, Authorization: basic('alice', PASSWORDS.alice) },
      }),
    );
    await alice.pushImage('alice/app', 'v1', makeImage());
    for (let i = 0; i < 3; i++) await send('/v2/', basic('alice', `${wrong}-${i}`));
    expect((await send('/v2/', basic('alice', PASSWORDS.alice))).status).toBe(429);

    expect(lines.some((line) => line.includes('authentication failed'))).toBe(true);
    expect(lines.some((line) => line.includes('request rejected'))).toBe(true);
    expectNoSecrets(lines, [...Object.values(PASSWORDS), wrong, 'password-typed-as-user']);
  });

  it('token auth: the token endpoint and the registry, with good and bad tokens', async () => {
    const { logger, lines } = capturingLogger();
    const key = generateSigningKey();
    const auth = createTokenAuth({
      users,
      rules: RULES,
      logger,
      signingKey: key,
      rateLimit: { attempts: 2 },
    });
    const registry = createRegistry({ logger, authorize: auth.authorize });
    const tokenFor = async (authorization: string, scope: string) => {
      const res = await auth.issuer.handle({
        method: 'GET',
        url: `/token?service=wharf&scope=${encodeURIComponent(scope)}`,
        headers: new Headers({ Authorization: authorization }),
        clientAddress: '192.0.2.44',
      });
      return { status: res.status, token: String((JSON.parse(res.body) as { token?: string }).token ?? '') };
    };
    const good = await tokenFor(basic('alice', PASSWORDS.alice), 'repository:alice/app:pull,push');
    expect(good.status).toBe(200);
    const bobs = await tokenFor(basic('bob', PASSWORDS.bob), 'repository:alice/app:pull,push');
    expect((await tokenFor(basic('alice', 'nope-not-logged'), 'repository:alice/app:pull')).status).toBe(401);
    expect((await tokenFor(basic('alice', 'nope-not-logged-2'), 'repository:alice/app:pull')).status).toBe(
      401,
    );
    expect((await tokenFor(basic('alice', PASSWORDS.alice), 'repository:alice/app:pull')).status).toBe(429);

    const alice = new OciClient('http://registry.local', (input, init) =>
      registry.fetch(input, {
        ...init,
        headers: { ...init?.headers, Authorization: `Bearer ${good.token}` },
      }),
    );
    await alice.pushImage('alice/app', 'v1', makeImage());
    const now = Math.floor(Date.now() / 1000);
    const expired = signToken(
      {
        iss: 'wharf',
        sub: 'alice',
        aud: 'wharf',
        exp: now - 600,
        nbf: now - 900,
        iat: now - 900,
        jti: 'e',
        access: [],
      },
      key,
    );
    const tampered = `${good.token.slice(0, -4)}AAAA`;
    for (const token of [expired, tampered, bobs.token]) {
      const res = await registry.fetch('/v2/alice/app/blobs/uploads/', {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(res.status).not.toBe(202);
    }

    expect(lines.some((line) => line.includes('token issued'))).toBe(true);
    expect(lines.some((line) => line.includes('token rejected'))).toBe(true);
    expect(lines.some((line) => line.includes('authentication failed'))).toBe(true);
    expectNoSecrets(lines, [
      ...Object.values(PASSWORDS),
      'nope-not-logged',
      good.token,
      bobs.token,
      expired,
      tampered,
    ]);
  });

  it('a failing user source: 500 to the client, and neither its error nor the password in the log', async () => {
    const { logger, lines } = capturingLogger();
    const registry = createRegistry({
      logger,
      authorize: basicAuth({
        logger,
        rules: RULES,
        users: (user, password) => {
          throw new Error(`database refused ${user}:${password}`);
        },
      }),
    });
    const res = await registry.fetch('/v2/', { headers: { Authorization: basic('alice', PASSWORDS.alice) } });
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain(PASSWORDS.alice);
    expect(lines.some((line) => line.includes('user verification failed'))).toBe(true);
    expectNoSecrets(lines, [PASSWORDS.alice, 'database refused']);
  });
});
