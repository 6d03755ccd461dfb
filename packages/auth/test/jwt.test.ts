import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKeyResolver,
  generateSigningKey,
  jwkThumbprint,
  libtrustKeyId,
  publicJwk,
  type SigningKey,
  signingKey,
  signToken,
  type TokenClaims,
  TokenError,
  type TokenFailure,
  verifyToken,
} from '../src/index.js';
import { segment } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);

function claims(overrides: Partial<TokenClaims> = {}): TokenClaims {
  const t = now();
  return {
    iss: 'issuer',
    sub: 'alice',
    aud: 'registry',
    exp: t + 300,
    nbf: t,
    iat: t,
    jti: 'id-1',
    access: [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }],
    ...overrides,
  };
}

async function verify(token: string, key: SigningKey, options: { leeway?: number } = {}) {
  return verifyToken(token, {
    keys: createKeyResolver({ publicKeys: [createPublicKey(key.key)] }),
    issuer: 'issuer',
    audience: 'registry',
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<TokenFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('token signing and verification', () => {
  const es256 = generateSigningKey('ES256');
  const rs256 = generateSigningKey('RS256');

  it.each([
    ['ES256', es256],
    ['RS256', rs256],
  ] as const)('round-trips a %s token with kid, typ and every claim', async (alg, key) => {
    const token = signToken(claims(), key);
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ typ: 'JWT', alg, kid: key.kid });
    const verified = await verify(token, key);
    expect(verified).toMatchObject({ iss: 'issuer', sub: 'alice', aud: 'registry', jti: 'id-1' });
    expect(verified.access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
  });

  it('uses the libtrust key id distribution computes, and knows the JWK thumbprint', () => {
    expect(es256.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(libtrustKeyId(createPublicKey(es256.key))).toBe(es256.kid);
    expect(jwkThumbprint(es256.key)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(publicJwk(es256)).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      kid: es256.kid,
      alg: 'ES256',
      use: 'sig',
    });
    expect(publicJwk(es256)).not.toHaveProperty('d');
  });

  it('rejects an expired token, and tolerates small clock skew', async () => {
    const t = now();
    expect(
      await failure(verify(signToken(claims({ exp: t - 120, iat: t - 400, nbf: t - 400 }), es256), es256)),
    ).toBe('expired');
    // Expired 10 s ago, inside the default 30 s leeway.
    await expect(verify(signToken(claims({ exp: t - 10 }), es256), es256)).resolves.toBeDefined();
    expect(await failure(verify(signToken(claims({ exp: t - 10 }), es256), es256, { leeway: 0 }))).toBe(
      'expired',
    );
  });

  it('rejects a token that is not yet valid, or issued in the future', async () => {
    const t = now();
    expect(await failure(verify(signToken(claims({ nbf: t + 120 }), es256), es256))).toBe('not-yet-valid');
    expect(await failure(verify(signToken(claims({ iat: t + 120, nbf: t }), es256), es256))).toBe(
      'not-yet-valid',
    );
    await expect(verify(signToken(claims({ nbf: t + 10 }), es256), es256)).resolves.toBeDefined();
  });

  it('rejects a token without an expiry', async () => {
    const { exp: _exp, ...rest } = claims();
    const token = signToken(rest as TokenClaims, es256);
    expect(await failure(verify(token, es256))).toBe('claims');
  });

  it('rejects a token with a tampered payload', async () => {
    const [header, , signature] = signToken(claims(), es256).split('.');
    const widened = segment(claims({ access: [{ type: 'repository', name: 'bob/app', actions: ['*'] }] }));
    expect(await failure(verify(`${header}.${widened}.${signature}`, es256))).toBe('signature');
  });

  it('rejects a token with a tampered signature', async () => {
    for (const key of [es256, rs256]) {
      const [header, payload, signature] = signToken(claims(), key).split('.');
      const bytes = Buffer.from(signature!, 'base64url');
      bytes[bytes.length - 1]! ^= 1;
      expect(await failure(verify(`${header}.${payload}.${bytes.toString('base64url')}`, key))).toBe(
        'signature',
      );
      // A truncated ECDSA signature is refused before verification.
      expect(
        await failure(verify(`${header}.${payload}.${bytes.subarray(1).toString('base64url')}`, key)),
      ).toBe('signature');
    }
  });

  it('rejects a token signed by another key, even with the trusted kid', async () => {
    const other = generateSigningKey('ES256');
    const forged = signToken(claims(), { ...other, kid: es256.kid });
    expect(await failure(verify(forged, es256))).toBe('signature');
    expect(await failure(verify(signToken(claims(), other), es256))).toBe('unknown-key');
  });

  it('rejects a wrong audience and a wrong issuer', async () => {
    expect(await failure(verify(signToken(claims({ aud: 'other-registry' }), es256), es256))).toBe(
      'audience',
    );
    expect(await failure(verify(signToken(claims({ aud: ['a', 'b'] }), es256), es256))).toBe('audience');
    await expect(verify(signToken(claims({ aud: ['a', 'registry'] }), es256), es256)).resolves.toBeDefined();
    expect(await failure(verify(signToken(claims({ iss: 'mallory' }), es256), es256))).toBe('issuer');
  });

  it('rejects alg "none" (with or without a signature)', async () => {
    const body = `${segment({ typ: 'JWT', alg: 'none', kid: es256.kid })}.${segment(claims())}`;
    expect(await failure(verify(`${body}.`, es256))).toBe('malformed');
    expect(await failure(verify(`${body}.c2ln`, es256))).toBe('algorithm');
  });

  it('rejects HS256 signed with the public key as the secret (algorithm confusion)', async () => {
    for (const key of [es256, rs256]) {
      const pem = createPublicKey(key.key).export({ type: 'spki', format: 'pem' });
      const body = `${segment({ typ: 'JWT', alg: 'HS256', kid: key.kid })}.${segment(claims())}`;
      const mac = createHmac('sha256', pem).update(body).digest('base64url');
      expect(await failure(verify(`${body}.${mac}`, key))).toBe('algorithm');
    }
  });

  it('rejects an algorithm the key does not support (RS256 header on an EC key)', async () => {
    const body = `${segment({ typ: 'JWT', alg: 'RS256', kid: es256.kid })}.${segment(claims())}`;
    const signature = sign('sha256', Buffer.from(body), rs256.key).toString('base64url');
    expect(await failure(verify(`${body}.${signature}`, es256))).toBe('unknown-key');
  });

  it('rejects malformed tokens and access claims', async () => {
    expect(await failure(verify('not-a-token', es256))).toBe('malformed');
    expect(await failure(verify('a.b.c.d', es256))).toBe('malformed');
    expect(await failure(verify(`${segment([1])}.${segment(claims())}.sig`, es256))).toBe('malformed');
    const badAccess = signToken(claims({ access: 'all' as unknown as TokenClaims['access'] }), es256);
    expect(await failure(verify(badAccess, es256))).toBe('claims');
    const crit = `${segment({ alg: 'ES256', kid: es256.kid, crit: ['exp'] })}.${segment(claims())}`;
    const signature = sign('sha256', Buffer.from(crit), { key: es256.key, dsaEncoding: 'ieee-p1363' });
    expect(await failure(verify(`${crit}.${signature.toString('base64url')}`, es256))).toBe('malformed');
  });

  it('never puts the token in an error message', async () => {
    const token = signToken(claims({ aud: 'elsewhere' }), es256);
    try {
      await verify(token, es256);
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(token.split('.')[2]);
      expect(String((error as Error).message)).not.toContain(token.split('.')[1]);
    }
  });
});

describe('verification keys', () => {
  it('selects the key by kid among several, and tries compatible keys without a kid', async () => {
    const a = generateSigningKey('ES256');
    const b = generateSigningKey('RS256');
    const keys = createKeyResolver({ publicKeys: [createPublicKey(a.key), createPublicKey(b.key)] });
    const options = { keys, issuer: 'issuer', audience: 'registry' };
    await expect(verifyToken(signToken(claims(), a), options)).resolves.toBeDefined();
    await expect(verifyToken(signToken(claims(), b), options)).resolves.toBeDefined();
    expect((await keys(b.kid, 'RS256')).map((k) => k.ids[0])).toEqual([b.kid]);
    const withoutKid = signToken(claims(), { ...b, kid: '' }).split('.');
    const header = segment({ typ: 'JWT', alg: 'RS256' });
    const input = `${header}.${withoutKid[1]}`;
    const signature = sign('sha256', Buffer.from(input), b.key).toString('base64url');
    await expect(verifyToken(`${input}.${signature}`, options)).resolves.toBeDefined();
  });

  it('accepts PEM public keys and a JWKS object with kids', async () => {
    const key = generateSigningKey('ES256');
    const pem = createPublicKey(key.key).export({ type: 'spki', format: 'pem' }).toString();
    const token = signToken(claims(), key);
    const base = { issuer: 'issuer', audience: 'registry' };
    await expect(
      verifyToken(token, { ...base, keys: createKeyResolver({ publicKeys: [pem] }) }),
    ).resolves.toBeDefined();
    const jwks = { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, publicJwk(generateSigningKey()), publicJwk(key)] };
    await expect(verifyToken(token, { ...base, keys: createKeyResolver({ jwks }) })).resolves.toBeDefined();
    // A JWK's own kid is authoritative.
    const renamed = { keys: [{ ...publicJwk(key), kid: 'rotated-1' }] };
    expect(await failure(verifyToken(token, { ...base, keys: createKeyResolver({ jwks: renamed }) }))).toBe(
      'unknown-key',
    );
    await expect(
      verifyToken(signToken(claims(), { ...key, kid: 'rotated-1' }), {
        ...base,
        keys: createKeyResolver({ jwks: renamed }),
      }),
    ).resolves.toBeDefined();
  });

  it('refuses weak or symmetric keys', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => signingKey(privateKey)).toThrow(/RSA/);
    expect(() => createKeyResolver({ publicKeys: [createPublicKey(privateKey)] })).toThrow(/unsupported/);
    expect(() => createKeyResolver({ publicKeys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toThrow(/symmetric/);
    expect(() => createKeyResolver({})).toThrow(/publicKeys, jwks or jwksUrl/);
  });

  describe('from a JWKS URL (loopback)', () => {
    let server: Server;
    let url: string;
    let served: SigningKey[] = [];
    let fetches = 0;

    beforeAll(async () => {
      server = createServer((req, res) => {
        fetches += 1;
        if (req.url !== '/jwks.json') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ keys: served.map(publicJwk) }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('fetches once, caches, and refetches for an unknown kid (key rotation)', async () => {
      const first = generateSigningKey('ES256');
      const second = generateSigningKey('RS256');
      served = [first];
      fetches = 0;
      const keys = createKeyResolver({ jwksUrl: url, jwksCooldownSeconds: 0 });
      const options = { keys, issuer: 'issuer', audience: 'registry' };
      await expect(verifyToken(signToken(claims(), first), options)).resolves.toBeDefined();
      await expect(verifyToken(signToken(claims(), first), options)).resolves.toBeDefined();
      expect(fetches).toBe(1);

      served = [first, second];
      await expect(verifyToken(signToken(claims(), second), options)).resolves.toBeDefined();
      expect(fetches).toBe(2);

      const stranger = generateSigningKey('ES256');
      expect(await failure(verifyToken(signToken(claims(), stranger), options))).toBe('unknown-key');
      expect(fetches).toBe(3);
    });

    it('does not refetch for unknown kids within the cooldown', async () => {
      const key = generateSigningKey('ES256');
      served = [key];
      fetches = 0;
      const keys = createKeyResolver({ jwksUrl: url, jwksCooldownSeconds: 3600 });
      const options = { keys, issuer: 'issuer', audience: 'registry' };
      await expect(verifyToken(signToken(claims(), key), options)).resolves.toBeDefined();
      for (let i = 0; i < 3; i++) {
        expect(await failure(verifyToken(signToken(claims(), generateSigningKey()), options))).toBe(
          'unknown-key',
        );
      }
      expect(fetches).toBe(1);
    });

    it('survives a failing JWKS endpoint (no keys, no crash)', async () => {
      fetches = 0;
      const keys = createKeyResolver({
        jwksUrl: url.replace('jwks.json', 'missing'),
        jwksCooldownSeconds: 0,
      });
      const token = signToken(claims(), generateSigningKey());
      expect(await failure(verifyToken(token, { keys, issuer: 'issuer', audience: 'registry' }))).toBe(
        'unknown-key',
      );
      expect(fetches).toBe(1);
    });
  });
});
