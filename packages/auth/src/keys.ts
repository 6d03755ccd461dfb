import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';

/** JWS algorithms wharf signs and verifies with. Symmetric (`HS*`) and `none` are never accepted. */
export type JwsAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'EdDSA';

/** The algorithms the built-in issuer signs with. */
export type SigningAlgorithm = 'ES256' | 'RS256';

const EC_ALGORITHMS: Record<string, JwsAlgorithm> = {
  prime256v1: 'ES256',
  'P-256': 'ES256',
  secp384r1: 'ES384',
  'P-384': 'ES384',
  secp521r1: 'ES512',
  'P-521': 'ES512',
};

/** Smallest RSA modulus accepted for signing or verification. */
const MIN_RSA_BITS = 2048;

/** The JWS algorithms a public or private key can be used with (empty when it cannot sign). */
export function algorithmsForKey(key: KeyObject): JwsAlgorithm[] {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const alg = details?.namedCurve ? EC_ALGORITHMS[details.namedCurve] : undefined;
      return alg ? [alg] : [];
    }
    case 'rsa':
      if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) return [];
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) return [];
      return ['PS256', 'PS384', 'PS512'];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/**
 * The key id distribution (CNCF `registry`) computes for a key (libtrust's format): the SHA-256 of
 * the DER public key, truncated to 240 bits, base32 in twelve groups of four. Tokens that name
 * their key this way verify against a PEM key, and a distribution registry can verify ours.
 */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  const base32 = base32Encode(digest);
  return base32.match(/.{1,4}/g)!.join(':');
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** The RFC 7638 JWK thumbprint of a key (base64url SHA-256), another common `kid`. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  let members: Record<string, unknown>;
  switch (jwk.kty) {
    case 'EC':
      members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
      break;
    case 'RSA':
      members = { e: jwk.e, kty: jwk.kty, n: jwk.n };
      break;
    case 'OKP':
      members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
      break;
    default:
      throw new TypeError(`unsupported key type ${String(jwk.kty)}`);
  }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** A key that can verify token signatures. */
export interface VerificationKey {
  readonly key: KeyObject;
  /** Key ids this key answers to (a token's `kid` must be one of them when it names one). */
  readonly ids: readonly string[];
  /** Algorithms a token signed with this key may declare. */
  readonly algorithms: readonly JwsAlgorithm[];
}

/** A public key as PEM (SPKI, PKCS#1, or an X.509 certificate), a JWK, or a `KeyObject`. */
export type PublicKeyInput = string | Buffer | KeyObject | JsonWebKey;

/** Splits a PEM bundle into its blocks. */
function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/g) ?? [];
}

function keysFromPem(pem: string): KeyObject[] {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0) throw new TypeError('no PEM block found in the key');
  return blocks.map((block) =>
    block.includes('CERTIFICATE') ? new X509Certificate(block).publicKey : createPublicKey(block),
  );
}

/**
 * Turns public key material into {@link VerificationKey}s. A JWK answers to its own `kid` (and is
 * limited to its `alg`) when it has them; PEM keys and `KeyObject`s answer to their libtrust key id and JWK thumbprint (plus `kid`, when
 * given). Private keys are accepted and reduced to their public half.
 */
export function verificationKeys(input: PublicKeyInput, kid?: string): VerificationKey[] {
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    return keysFromPem(input.toString()).map((key) => verificationKey(key, kid));
  }
  if (isKeyObject(input)) {
    return [verificationKey(input.type === 'private' ? createPublicKey(input) : input, kid)];
  }
  return [jwkVerificationKey(input)];
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && 'asymmetricKeyType' in value && 'export' in value;
}

function verificationKey(key: KeyObject, kid?: string): VerificationKey {
  const algorithms = algorithmsForKey(key);
  if (algorithms.length === 0) {
    throw new TypeError(
      `unsupported verification key (${key.asymmetricKeyType ?? key.type}); use EC P-256/384/521, RSA ≥ ${MIN_RSA_BITS} bits or Ed25519`,
    );
  }
  const ids = [libtrustKeyId(key), jwkThumbprint(key)];
  if (kid !== undefined) ids.unshift(kid);
  return { key, ids, algorithms };
}

function jwkVerificationKey(jwk: JsonWebKey): VerificationKey {
  if (jwk.kty === 'oct') throw new TypeError('symmetric keys are not accepted');
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new TypeError('the key is not a signing key');
  const { d: _private, ...publicPart } = jwk;
  const key = createPublicKey({ key: publicPart, format: 'jwk' });
  const computed = verificationKey(key);
  // A JWK that names itself answers to that name only, as JWKS consumers expect.
  const base = typeof jwk.kid === 'string' ? { ...computed, ids: [jwk.kid] } : computed;
  if (typeof jwk.alg === 'string') {
    const alg = jwk.alg as JwsAlgorithm;
    if (!base.algorithms.includes(alg)) throw new TypeError(`the key cannot be used with ${jwk.alg}`);
    return { ...base, algorithms: [alg] };
  }
  return base;
}

/** A JSON Web Key Set. */
export interface JsonWebKeySet {
  readonly keys: readonly JsonWebKey[];
}

/**
 * The usable keys of a JWKS; keys of unsupported types (or encryption keys) are skipped, as RFC
 * 7517 asks.
 */
export function keysFromJwks(jwks: JsonWebKeySet): VerificationKey[] {
  if (!jwks || !Array.isArray(jwks.keys)) throw new TypeError('a JWKS needs a "keys" array');
  const keys: VerificationKey[] = [];
  for (const jwk of jwks.keys) {
    try {
      keys.push(jwkVerificationKey(jwk));
    } catch {
      // Unsupported or malformed entries are ignored, not fatal.
    }
  }
  return keys;
}

/** A private key the built-in issuer signs with. */
export interface SigningKey {
  readonly key: KeyObject;
  readonly algorithm: SigningAlgorithm;
  /** The `kid` put in token headers (the libtrust key id, which distribution understands). */
  readonly kid: string;
}

/** Loads a PEM private key (PKCS#8, SEC1 or PKCS#1) or a `KeyObject` for signing. */
export function signingKey(input: string | Buffer | KeyObject): SigningKey {
  const key = isKeyObject(input) ? input : createPrivateKey(input.toString());
  if (key.type !== 'private') throw new TypeError('a signing key must be a private key');
  const algorithms = algorithmsForKey(key);
  const algorithm: SigningAlgorithm | undefined = algorithms.includes('ES256')
    ? 'ES256'
    : algorithms.includes('RS256')
      ? 'RS256'
      : undefined;
  if (!algorithm) throw new TypeError(`signing keys must be EC P-256 or RSA ≥ ${MIN_RSA_BITS} bits`);
  return { key, algorithm, kid: libtrustKeyId(key) };
}

/** Generates a fresh signing key (ES256 by default). */
export function generateSigningKey(algorithm: SigningAlgorithm = 'ES256'): SigningKey {
  const { privateKey } =
    algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return signingKey(privateKey);
}

/** The public JWK (with `kid`, `alg` and `use`) of a signing key, for publishing as a JWKS. */
export function publicJwk(key: SigningKey): JsonWebKey {
  const jwk = createPublicKey(key.key).export({ format: 'jwk' });
  return { ...jwk, kid: key.kid, alg: key.algorithm, use: 'sig' };
}
