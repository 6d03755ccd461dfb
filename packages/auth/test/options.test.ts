import {
  basicAuth,
  createTokenAuth,
  createTokenIssuer,
  generateSigningKey,
  publicJwk,
  staticUsers,
  tokenAuth,
} from '@wharf/auth';
import { OptionsError } from '@wharf/core';
import { describe, expect, it } from 'vitest';

const users = staticUsers({ alice: 'secret' });
const rules = [{ users: '*', repositories: '{user}/**', actions: ['*'] as const }];

/** The message of the OptionsError `make` throws. */
function refusal(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(OptionsError);
    return (error as Error).message;
  }
  throw new Error('the options were accepted');
}

describe('auth factory options', () => {
  it('basicAuth names what is missing or wrong', () => {
    expect(refusal(() => basicAuth(undefined as never))).toBe(
      'basicAuth: option "options" must be an object (got undefined)',
    );
    expect(refusal(() => basicAuth({ rules } as never))).toBe('basicAuth: option "users" is required');
    expect(refusal(() => basicAuth({ users }))).toBe(
      'basicAuth: option "rules" is required (or give "policy")',
    );
    expect(refusal(() => basicAuth({ users: 'htpasswd' as never, rules }))).toMatch(
      /^basicAuth: option "users" must be a verify\(user, password\) function or an object with one/,
    );
    expect(refusal(() => basicAuth({ users, rules, rateLimit: { attempts: 0 } }))).toBe(
      'basicAuth: option "rateLimit.attempts" must be a whole number ≥ 1 (got 0)',
    );
    expect(refusal(() => basicAuth({ users, rules: [{ actions: ['fly'] }] as never }))).toMatch(
      /^basicAuth: option "rules" are not valid access rules \(at 0\.actions/,
    );
    expect(refusal(() => basicAuth({ users, rules, cacheSecond: 5 } as never))).toMatch(
      /^basicAuth: option "cacheSecond" is not an option here/,
    );
    expect(typeof basicAuth({ users, rules, rateLimit: false, realm: 'r' })).toBe('function');
  });

  it('tokenAuth needs a realm, a service, an issuer and keys', () => {
    const key = publicJwk(generateSigningKey());
    const base = { realm: 'https://auth.example/token', service: 'registry', issuer: 'auth' };
    expect(refusal(() => tokenAuth({ ...base, realm: '' }))).toBe(
      'tokenAuth: option "realm" must be a URL or a function of the request (got "")',
    );
    expect(refusal(() => tokenAuth({ ...base, service: undefined } as never))).toBe(
      'tokenAuth: option "service" is required',
    );
    expect(refusal(() => tokenAuth(base))).toBe(
      'tokenAuth: option "publicKeys" is required (or give "jwks" or "jwksUrl")',
    );
    expect(refusal(() => tokenAuth({ ...base, jwksUrl: 'file:///etc/keys' }))).toBe(
      'tokenAuth: option "jwksUrl" must be an http or https URL (got "file:///etc/keys")',
    );
    expect(refusal(() => tokenAuth({ ...base, jwks: { keys: 'none' } as never }))).toBe(
      'tokenAuth: option "jwks.keys" must be an array (got "none")',
    );
    expect(typeof tokenAuth({ ...base, jwks: { keys: [key] } })).toBe('function');
  });

  it('createTokenIssuer and createTokenAuth check the issuer options', () => {
    expect(refusal(() => createTokenIssuer({ users, rules, expiresIn: 1.5 }))).toBe(
      'createTokenIssuer: option "expiresIn" must be a whole number ≥ 1 (got 1.5)',
    );
    expect(refusal(() => createTokenAuth({ users, rules, anonymous: 'yes' as never }))).toBe(
      'createTokenAuth: option "anonymous" must be true or false (got "yes")',
    );
    expect(refusal(() => createTokenAuth({ users }))).toBe(
      'createTokenAuth: option "rules" is required (or give "policy")',
    );
    const auth = createTokenAuth({ users, rules, realm: 'https://r.example/token', leeway: 5 });
    expect(typeof auth.authorize).toBe('function');
  });
});
