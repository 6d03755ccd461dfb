/**
 * `@wharf/auth`: ready-made `authorize` hooks for `@wharf/core` — HTTP Basic against an htpasswd
 * file (or your own check), Docker token authentication with a built-in token endpoint or an
 * external issuer, per-repository allow rules, and combinators to mix them with your own logic.
 *
 * @packageDocumentation
 */

export { type Authentication, Authenticator, type AuthenticatorOptions } from './authenticator.js';
export { type BasicAuthOptions, basicAuth, policyOf } from './basic.js';
export {
  type Credentials,
  defaultClientAddress,
  parseAuthorization,
  requestCredentials,
} from './credentials.js';
export {
  type AccessEntry,
  signToken,
  type TokenClaims,
  TokenError,
  type TokenFailure,
  type VerifyTokenOptions,
  verifyToken,
} from './jwt.js';
export { createKeyResolver, type KeyResolver, type KeySourceOptions } from './key-resolver.js';
export {
  algorithmsForKey,
  generateSigningKey,
  type JsonWebKeySet,
  type JwsAlgorithm,
  jwkThumbprint,
  keysFromJwks,
  libtrustKeyId,
  type PublicKeyInput,
  publicJwk,
  type SigningAlgorithm,
  type SigningKey,
  signingKey,
  type VerificationKey,
  verificationKeys,
} from './keys.js';
export {
  type AccessPolicy,
  type AccessQuery,
  type AccessRule,
  allOf,
  anyOf,
  parseRules,
  type RuleAction,
  rulesPolicy,
} from './policy.js';
export { FailureLimiter, type RateLimitOptions } from './rate-limit.js';
export {
  accessGrants,
  type PolicyAction,
  parseScope,
  parseScopes,
  REPOSITORY_ACTIONS,
  type RepositoryAction,
  type Scope,
  scopeFor,
} from './scope.js';
export { type CreateTokenAuthOptions, createTokenAuth, type TokenAuth } from './token.js';
export {
  bearerChallenge,
  type RealmOption,
  realmFromHost,
  type TokenAuthOptions,
  tokenAuth,
} from './token-auth.js';
export {
  createTokenIssuer,
  type TokenGrant,
  type TokenIssuer,
  type TokenIssuerOptions,
  type TokenRequest,
  type TokenResponse,
} from './token-server.js';
export {
  cachedVerifier,
  type HtpasswdUsers,
  hashPassword,
  parseHtpasswd,
  readHtpasswdFile,
  safeEqual,
  staticUsers,
  type UserSource,
  type VerifyCredentials,
  verifierOf,
} from './users.js';
