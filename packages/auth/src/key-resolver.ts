import type { Logger } from '@wharf/core';
import {
  type JsonWebKeySet,
  type JwsAlgorithm,
  keysFromJwks,
  type PublicKeyInput,
  type VerificationKey,
  verificationKeys,
} from './keys.js';

/** Where the keys that verify tokens come from. At least one source is required. */
export interface KeySourceOptions {
  /** Public keys: PEM (SPKI, PKCS#1 or X.509 certificates; bundles allowed), JWKs or `KeyObject`s. */
  readonly publicKeys?: readonly PublicKeyInput[];
  /** A JWKS given as an object. */
  readonly jwks?: JsonWebKeySet;
  /**
   * A JWKS to fetch, and refetch when it is older than `jwksCacheSeconds` or a token names an
   * unknown `kid` (at most once per `jwksCooldownSeconds`). Only this URL is ever fetched.
   */
  readonly jwksUrl?: string;
  /** Default 300. */
  readonly jwksCacheSeconds?: number;
  /** Default 30. */
  readonly jwksCooldownSeconds?: number;
  /** The `fetch` used for `jwksUrl`. Default: the global one. */
  readonly fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  readonly logger?: Partial<Logger>;
}

/** Largest JWKS document accepted. */
const MAX_JWKS_BYTES = 1024 * 1024;
const JWKS_TIMEOUT_MS = 10_000;

/** Finds the keys that may have signed a token. */
export type KeyResolver = (kid: string | undefined, alg: JwsAlgorithm) => Promise<readonly VerificationKey[]>;

/** Builds a {@link KeyResolver} from static keys and/or a JWKS (object or URL). */
export function createKeyResolver(options: KeySourceOptions): KeyResolver {
  const fixed: VerificationKey[] = [
    ...(options.publicKeys ?? []).flatMap((input) => verificationKeys(input)),
    ...(options.jwks ? keysFromJwks(options.jwks) : []),
  ];
  const remote = options.jwksUrl ? remoteJwks(options.jwksUrl, options) : undefined;
  if (fixed.length === 0 && !remote)
    throw new TypeError('token verification needs publicKeys, jwks or jwksUrl');

  const select = (keys: readonly VerificationKey[], kid: string | undefined, alg: JwsAlgorithm) =>
    keys.filter((k) => (kid === undefined ? k.algorithms.includes(alg) : k.ids.includes(kid)));

  return async (kid, alg) => {
    const local = select(fixed, kid, alg);
    if (local.length > 0 || !remote) return local;
    return select(await remote(kid), kid, alg);
  };
}

function remoteJwks(
  url: string,
  options: KeySourceOptions,
): (kid: string | undefined) => Promise<readonly VerificationKey[]> {
  const cacheMs = (options.jwksCacheSeconds ?? 300) * 1000;
  const cooldownMs = (options.jwksCooldownSeconds ?? 30) * 1000;
  const fetchImpl = options.fetch ?? ((input: string, init?: RequestInit) => fetch(input, init));
  let keys: readonly VerificationKey[] = [];
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;

  async function load(): Promise<void> {
    attemptedAt = Date.now();
    try {
      const response = await fetchImpl(url, {
        headers: { Accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      const declared = Number(response.headers.get('content-length') ?? 0);
      if (declared > MAX_JWKS_BYTES) throw new Error('JWKS too large');
      const body = await response.arrayBuffer();
      if (body.byteLength > MAX_JWKS_BYTES) throw new Error('JWKS too large');
      keys = keysFromJwks(JSON.parse(Buffer.from(body).toString('utf8')) as JsonWebKeySet);
      fetchedAt = Date.now();
    } catch (error) {
      // Keep the keys we had: a JWKS endpoint hiccup must not lock everyone out.
      options.logger?.warn?.(
        { url, error: error instanceof Error ? error.message : String(error) },
        'could not refresh the JWKS',
      );
    }
  }

  function refresh(): Promise<void> {
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  return async (kid) => {
    const now = Date.now();
    if (now - fetchedAt > cacheMs && now - attemptedAt > Math.min(cooldownMs, cacheMs)) await refresh();
    else if (kid !== undefined && !keys.some((k) => k.ids.includes(kid)) && now - attemptedAt > cooldownMs) {
      await refresh();
    }
    return keys;
  };
}
