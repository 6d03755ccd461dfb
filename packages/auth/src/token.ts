import type { Authorizer } from '@wharf/core';
import { validateTokenIssuerOptions } from './options.js';
import { type RealmOption, realmFromHost, tokenAuth } from './token-auth.js';
import { createTokenIssuer, type TokenIssuer, type TokenIssuerOptions } from './token-server.js';

/** Options of {@link createTokenAuth}. */
export interface CreateTokenAuthOptions extends TokenIssuerOptions {
  /**
   * The token endpoint's URL as clients must reach it. Default: `/token` on the host the client
   * used (`realmFromHost()`); set a fixed URL in production.
   */
  readonly realm?: RealmOption;
  /** Tolerated clock skew when verifying tokens, in seconds. Default 30. */
  readonly leeway?: number;
}

/** The two halves of Docker token authentication with the built-in issuer. */
export interface TokenAuth {
  /** The registry's `authorize` hook. */
  readonly authorize: Authorizer;
  /** The token endpoint; serve `issuer.listener` (or `issuer.handle`) at the realm's URL. */
  readonly issuer: TokenIssuer;
}

/**
 * Docker token authentication with the built-in issuer: the registry answers 401 with a Bearer
 * challenge pointing at the realm, clients trade their credentials there for a short-lived token,
 * and the registry verifies it.
 *
 * @example
 * ```ts
 * const auth = createTokenAuth({
 *   users: await readHtpasswdFile('htpasswd'),
 *   rules: [{ users: '*', repositories: '{user}/**', actions: ['*'] }],
 *   signingKey: await readFile('token-key.pem'),
 * });
 * const registry = createRegistry({ authorize: auth.authorize });
 * const handler = createHandler(registry);
 * createServer((req, res) =>
 *   req.url?.split('?')[0] === '/token' ? auth.issuer.listener(req, res) : handler(req, res),
 * ).listen(5000);
 * ```
 */
export function createTokenAuth(options: CreateTokenAuthOptions): TokenAuth {
  validateTokenIssuerOptions('createTokenAuth', options);
  const issuer = createTokenIssuer(options);
  const authorize = tokenAuth({
    realm: options.realm ?? realmFromHost('/token'),
    service: issuer.service,
    issuer: issuer.issuer,
    publicKeys: issuer.verificationKeys.map((k) => k.key),
    policy: issuer.policy,
    ...(options.leeway === undefined ? {} : { leeway: options.leeway }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return { authorize, issuer };
}
