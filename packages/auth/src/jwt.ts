import { constants, type KeyObject, sign, verify } from 'node:crypto';
import type { JwsAlgorithm, SigningKey, VerificationKey } from './keys.js';

/** One entry of a token's `access` claim: what the bearer may do on one resource. */
export interface AccessEntry {
  /** `repository`, or `registry` (for `catalog`). */
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** The claims of a registry token (Docker token authentication). */
export interface TokenClaims {
  readonly iss: string;
  /** The user; empty for an anonymous token. */
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
  readonly jti: string;
  readonly access: readonly AccessEntry[];
}

/** Why a token was refused (never contains the token itself). */
export type TokenFailure =
  | 'malformed'
  | 'algorithm'
  | 'unknown-key'
  | 'signature'
  | 'expired'
  | 'not-yet-valid'
  | 'issuer'
  | 'audience'
  | 'claims';

/** A token failed verification; `reason` says why. The message never contains the token. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly reason: TokenFailure;

  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

const HASHES: Record<JwsAlgorithm, string | null> = {
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  EdDSA: null,
};

/** ECDSA signature lengths (r ‖ s) per algorithm, as JWS encodes them. */
const EC_SIGNATURE_BYTES: Partial<Record<JwsAlgorithm, number>> = { ES256: 64, ES384: 96, ES512: 132 };

function isAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && Object.hasOwn(HASHES, value);
}

function keyOptions(alg: JwsAlgorithm, key: KeyObject) {
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' as const };
  if (alg.startsWith('PS')) {
    return {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    };
  }
  return key;
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Signs `claims` as a compact JWS with the key's algorithm and `kid`. */
export function signToken(claims: TokenClaims, key: SigningKey): string {
  const header = { typ: 'JWT', alg: key.algorithm, kid: key.kid };
  const input = `${encodeSegment(header)}.${encodeSegment(claims)}`;
  const signature = sign(HASHES[key.algorithm], Buffer.from(input), keyOptions(key.algorithm, key.key));
  return `${input}.${signature.toString('base64url')}`;
}

/** Options of {@link verifyToken}. */
export interface VerifyTokenOptions {
  /** Finds the candidate keys for a token header (by `kid`, else every key usable with `alg`). */
  readonly keys: (kid: string | undefined, alg: JwsAlgorithm) => Promise<readonly VerificationKey[]>;
  /** The expected `iss`. */
  readonly issuer: string;
  /** The expected audience (the registry's service name); `aud` must be or contain it. */
  readonly audience: string;
  /** Tolerated clock skew for `exp`, `nbf` and `iat`, in seconds. Default 30. */
  readonly leeway?: number;
  /** The current time in seconds (tests). */
  readonly now?: number;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** Longest token accepted: bounds parsing work on hostile input. */
const MAX_TOKEN_LENGTH = 64 * 1024;

function decodeJson(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('malformed', 'malformed token');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenError('malformed', 'malformed token');
  }
  return value as Record<string, unknown>;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function parseAccess(value: unknown): AccessEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TokenError('claims', 'invalid access claim');
  return value.map((entry: unknown) => {
    const e = entry as Partial<Record<keyof AccessEntry, unknown>> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.type !== 'string' ||
      typeof e.name !== 'string' ||
      !Array.isArray(e.actions) ||
      !e.actions.every((a) => typeof a === 'string')
    ) {
      throw new TokenError('claims', 'invalid access claim');
    }
    return { type: e.type, name: e.name, actions: e.actions as string[] };
  });
}

/**
 * Verifies a compact JWS registry token: structure, algorithm (asymmetric only, and one the key
 * supports: `none` and `HS*` never pass), key (`kid`), signature, `exp`/`nbf`/`iat` with leeway,
 * `iss` and `aud`. Returns the claims; throws {@link TokenError} otherwise.
 */
export async function verifyToken(token: string, options: VerifyTokenOptions): Promise<TokenClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed', 'malformed token');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    throw new TokenError('malformed', 'malformed token');
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  const alg = header.alg;
  if (!isAlgorithm(alg)) throw new TokenError('algorithm', 'unsupported token algorithm');
  if (header.crit !== undefined) throw new TokenError('malformed', 'unsupported critical header');
  const kid = typeof header.kid === 'string' ? header.kid : undefined;

  const candidates = (await options.keys(kid, alg)).filter((k) => k.algorithms.includes(alg));
  if (candidates.length === 0) throw new TokenError('unknown-key', 'token signed by an unknown key');
  const signature = Buffer.from(signaturePart, 'base64url');
  const expectedLength = EC_SIGNATURE_BYTES[alg];
  if (expectedLength !== undefined && signature.byteLength !== expectedLength) {
    throw new TokenError('signature', 'invalid token signature');
  }
  const input = Buffer.from(`${headerPart}.${payloadPart}`);
  const valid = candidates.some((candidate) => {
    try {
      return verify(HASHES[alg], input, keyOptions(alg, candidate.key), signature);
    } catch {
      return false;
    }
  });
  if (!valid) throw new TokenError('signature', 'invalid token signature');

  const claims = decodeJson(payloadPart);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const leeway = options.leeway ?? 30;
  const { exp, nbf, iat, iss, aud, sub, jti } = claims;
  if (!isNumericDate(exp)) throw new TokenError('claims', 'token has no expiry');
  if (exp + leeway <= now) throw new TokenError('expired', 'token expired');
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf - leeway > now)) {
    throw new TokenError('not-yet-valid', 'token not yet valid');
  }
  if (iat !== undefined && (!isNumericDate(iat) || iat - leeway > now)) {
    throw new TokenError('not-yet-valid', 'token issued in the future');
  }
  if (iss !== options.issuer) throw new TokenError('issuer', 'token from an untrusted issuer');
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(options.audience)) throw new TokenError('audience', 'token for another service');
  if (sub !== undefined && typeof sub !== 'string') throw new TokenError('claims', 'invalid subject');
  return {
    iss,
    sub: sub ?? '',
    aud: aud as string | string[],
    exp,
    nbf: isNumericDate(nbf) ? nbf : 0,
    iat: isNumericDate(iat) ? iat : 0,
    jti: typeof jti === 'string' ? jti : '',
    access: parseAccess(claims.access),
  };
}
