import { type OptionCheck, type OptionChecks, OptionsError, optionCheck, validateOptions } from '@wharf/core';
import type { AuthenticatorOptions } from './authenticator.js';
import type { BasicAuthOptions } from './basic.js';
import type { KeySourceOptions } from './key-resolver.js';
import { parseRules } from './policy.js';
import type { RateLimitOptions } from './rate-limit.js';
import type { CreateTokenAuthOptions } from './token.js';
import type { TokenAuthOptions } from './token-auth.js';

const RATE_LIMIT: OptionChecks<RateLimitOptions> = {
  attempts: optionCheck.integer(1),
  addressAttempts: optionCheck.integer(1),
  windowSeconds: optionCheck.integer(1),
  maxEntries: optionCheck.integer(1),
};

const rules: OptionCheck = (value) => {
  if (value === undefined) return undefined;
  try {
    parseRules(value);
    return undefined;
  } catch (error) {
    return `are not valid access rules (${(error as Error).message.replace(/^invalid access rules /, '')})`;
  }
};

const AUTHENTICATOR: OptionChecks<AuthenticatorOptions> = {
  users: optionCheck.required(
    optionCheck.either(
      'must be a verify(user, password) function or an object with one (e.g. parseHtpasswd())',
      optionCheck.function,
      optionCheck.methods(['verify'], 'a user source'),
    ),
  ),
  cacheSeconds: optionCheck.number(0),
  rateLimit: (value) => (value === false ? undefined : optionCheck.shape(RATE_LIMIT)(value)),
  logger: optionCheck.shape(
    {
      debug: optionCheck.function,
      info: optionCheck.function,
      warn: optionCheck.function,
      error: optionCheck.function,
    },
    { exact: false },
  ),
  clock: optionCheck.methods(['now'], 'a clock'),
};

const BASIC: OptionChecks<BasicAuthOptions> = {
  ...AUTHENTICATOR,
  policy: optionCheck.function,
  rules,
  realm: optionCheck.text,
  clientAddress: optionCheck.function,
};

const KEY_SOURCE: OptionChecks<KeySourceOptions> = {
  publicKeys: optionCheck.array(
    optionCheck.either('must be PEM text, a Buffer, a KeyObject or a JWK', optionCheck.text, (value) =>
      typeof value === 'object' && value !== null ? undefined : 'is not a key',
    ),
  ),
  jwks: optionCheck.shape(
    { keys: optionCheck.required(optionCheck.array(optionCheck.shape({}, { exact: false }))) },
    { exact: false },
  ),
  jwksUrl: optionCheck.url,
  jwksCacheSeconds: optionCheck.number(0),
  jwksCooldownSeconds: optionCheck.number(0),
  fetch: optionCheck.function,
  logger: AUTHENTICATOR.logger,
};

const realm = optionCheck.either(
  'must be a URL or a function of the request',
  optionCheck.text,
  optionCheck.function,
);

const TOKEN_AUTH: OptionChecks<TokenAuthOptions> = {
  ...KEY_SOURCE,
  realm: optionCheck.required(realm),
  service: optionCheck.required(optionCheck.text),
  issuer: optionCheck.required(optionCheck.text),
  leeway: optionCheck.number(0),
  policy: optionCheck.function,
  clock: AUTHENTICATOR.clock,
};

// `createTokenAuth` hands its whole options object to `createTokenIssuer`, so the issuer accepts
// the two options that only `createTokenAuth` reads (`realm`, `leeway`).
const TOKEN_ISSUER: OptionChecks<CreateTokenAuthOptions> = {
  ...AUTHENTICATOR,
  service: optionCheck.text,
  issuer: optionCheck.text,
  policy: optionCheck.function,
  rules,
  signingKey: optionCheck.either(
    'must be a PEM private key, a Buffer, a KeyObject or a signing key',
    optionCheck.text,
    (value) => (typeof value === 'object' && value !== null ? undefined : 'is not a key'),
  ),
  expiresIn: optionCheck.integer(1),
  anonymous: optionCheck.boolean,
  basicRealm: optionCheck.text,
  clientAddress: optionCheck.function,
  realm,
  leeway: optionCheck.number(0),
};

function requirePolicy(factory: string, options: { policy?: unknown; rules?: unknown }): void {
  if (options.policy === undefined && options.rules === undefined) {
    throw new OptionsError(factory, 'rules', 'is required (or give "policy")');
  }
}

/** Throws an `OptionsError` naming the first option of `basicAuth` it cannot use. */
export function validateBasicAuthOptions(options: unknown): void {
  validateOptions<BasicAuthOptions>('basicAuth', options, BASIC);
  requirePolicy('basicAuth', options);
}

/** Throws an `OptionsError` naming the first option of `tokenAuth` it cannot use. */
export function validateTokenAuthOptions(options: unknown): void {
  validateOptions<TokenAuthOptions>('tokenAuth', options, TOKEN_AUTH);
  if (
    (options.publicKeys?.length ?? 0) === 0 &&
    options.jwks === undefined &&
    options.jwksUrl === undefined
  ) {
    throw new OptionsError('tokenAuth', 'publicKeys', 'is required (or give "jwks" or "jwksUrl")');
  }
}

/** Throws an `OptionsError` naming the first option of `createTokenIssuer` / `createTokenAuth` it cannot use. */
export function validateTokenIssuerOptions(
  factory: 'createTokenIssuer' | 'createTokenAuth',
  options: unknown,
): void {
  validateOptions<CreateTokenAuthOptions>(factory, options, TOKEN_ISSUER);
  requirePolicy(factory, options);
}
