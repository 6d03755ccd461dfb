import { type Clock, createRegistry } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { createTokenAuth, parseHtpasswd } from '../src/index.js';
import { basic, decodeJwt, htpasswdText, PASSWORDS, parseChallenge, RULES } from './helpers.js';

/** A clock moved by hand, shared by the token issuer, the verifier and the registry. */
function manualClock(start: number): Clock & { advance(seconds: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(seconds) {
      now += seconds * 1000;
    },
  };
}

describe('token authentication on a controllable clock', () => {
  it('dates tokens by the clock and refuses them once it passes their expiry', async () => {
    const start = Date.parse('2030-01-01T00:00:00Z');
    const clock = manualClock(start);
    const auth = createTokenAuth({
      users: parseHtpasswd(htpasswdText()),
      rules: RULES,
      clock,
      expiresIn: 300,
      leeway: 0,
      realm: 'https://auth.test/token',
    });
    const registry = createRegistry({ authorize: auth.authorize, clock });
    const issued = await auth.issuer.handle({
      method: 'GET',
      url: '/token?service=wharf&scope=repository:alice/app:pull',
      headers: new Headers({ Authorization: basic('alice', PASSWORDS.alice) }),
    });
    const { token, issued_at } = JSON.parse(issued.body) as { token: string; issued_at: string };
    expect(issued_at).toBe('2030-01-01T00:00:00.000Z');
    expect(decodeJwt(token).payload).toMatchObject({ iat: start / 1000, exp: start / 1000 + 300 });

    const tags = () =>
      registry.fetch('/v2/alice/app/tags/list', { headers: { Authorization: `Bearer ${token}` } });
    // Valid now: the repository is merely empty.
    expect((await tags()).status).toBe(404);
    clock.advance(299);
    expect((await tags()).status).toBe(404);
    clock.advance(1);
    const expired = await tags();
    expect(expired.status).toBe(401);
    const challenge = parseChallenge(expired.headers.get('www-authenticate'));
    expect(challenge.params.error).toBe('invalid_token');
  });
});
