import {
  type AuthDecision,
  type Authorizer,
  type Clock,
  type Logger,
  type RegistryAction,
  type RegistryRequest,
  systemClock,
} from '@wharf/core';
import { quote, requestCredentials } from './credentials.js';
import { type TokenClaims, TokenError, verifyToken } from './jwt.js';
import { createKeyResolver, type KeySourceOptions } from './key-resolver.js';
import { validateTokenAuthOptions } from './options.js';
import type { AccessPolicy } from './policy.js';
import { accessGrants, scopeFor } from './scope.js';

/** Where clients get tokens: a fixed URL, or one computed per request. */
export type RealmOption = string | ((request: RegistryRequest) => string);

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions extends KeySourceOptions {
  /** The token endpoint's URL, sent as the challenge's `realm`. */
  readonly realm: RealmOption;
  /** The registry's service name: the challenge's `service`, and the tokens' required `aud`. */
  readonly service: string;
  /** The issuer tokens must name (`iss`). */
  readonly issuer: string;
  /** Tolerated clock skew, in seconds. Default 30. */
  readonly leeway?: number;
  /** Where the time is read to check `exp`, `nbf` and `iat`. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * What users may do, when the registry knows (the built-in issuer passes its policy). It lets
   * `_catalog` with `registry:catalog:*` list the repositories the token's user may pull.
   */
  readonly policy?: AccessPolicy;
}

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * A realm on the registry's own host, from the request's `Host` header (`fallbackHost` when it is
 * missing or malformed). Convenient when the port is not known in advance; behind a proxy, or in
 * production, configure a fixed URL instead.
 */
export function realmFromHost(
  path = '/token',
  protocol: 'http' | 'https' = 'http',
  fallbackHost = 'localhost',
): (request: RegistryRequest) => string {
  return (request) => {
    const host = request.headers.get('host');
    return `${protocol}://${host && HOST.test(host) ? host : fallbackHost}${path}`;
  };
}

/** A `WWW-Authenticate: Bearer` challenge. */
export function bearerChallenge(
  realm: string,
  service: string,
  scope?: string,
  error?: 'invalid_token' | 'insufficient_scope',
): string {
  let challenge = `Bearer realm=${quote(realm)},service=${quote(service)}`;
  if (scope) challenge += `,scope=${quote(scope)}`;
  if (error) challenge += `,error=${quote(error)}`;
  return challenge;
}

type Verified = { readonly claims: TokenClaims } | { readonly error: TokenError };

/**
 * An `authorize` hook for Docker token authentication (what docker, podman, skopeo and containerd
 * speak): requests carry `Authorization: Bearer <JWT>` from a token endpoint; without one (or with
 * an invalid one) the answer is 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` naming
 * the scope to ask for. Tokens are verified by signature (`kid`-selected public keys, PEM or JWKS,
 * asymmetric algorithms only), `exp`/`nbf` (with `leeway`), `iss`, `aud`, and must grant the action
 * on the repository in their `access` claim. A valid token that does not is refused as distribution
 * refuses it: 401 with `error="insufficient_scope"` and the scope needed, which docker reports as
 * "denied" at once (a 403 with a bare `DENIED` makes it retry a push for about a minute).
 *
 * Use it alone to trust an external issuer, or through `createTokenAuth` with the built-in one.
 */
export function tokenAuth(options: TokenAuthOptions): Authorizer {
  validateTokenAuthOptions(options);
  const keys = createKeyResolver(options);
  const { service, issuer, policy } = options;
  const logger: Partial<Logger> | undefined = options.logger;
  const realmOf = typeof options.realm === 'string' ? () => options.realm as string : options.realm;
  const verified = new WeakMap<RegistryRequest, Promise<Verified>>();
  const clock = options.clock ?? systemClock;

  function check(request: RegistryRequest, token: string): Promise<Verified> {
    let result = verified.get(request);
    if (!result) {
      result = verifyToken(token, {
        keys,
        issuer,
        audience: service,
        now: Math.floor(clock.now() / 1000),
        ...(options.leeway === undefined ? {} : { leeway: options.leeway }),
      }).then(
        (claims) => ({ claims }),
        (error: unknown) => {
          if (error instanceof TokenError) {
            logger?.debug?.({ reason: error.reason }, 'token rejected');
            return { error };
          }
          throw error;
        },
      );
      verified.set(request, result);
    }
    return result;
  }

  const challenge = (
    request: RegistryRequest,
    action: RegistryAction,
    repository: string | undefined,
    message: string,
    error?: 'invalid_token' | 'insufficient_scope',
  ): AuthDecision => ({
    allow: false,
    status: 401,
    challenge: bearerChallenge(realmOf(request), service, scopeFor(action, repository), error),
    message,
  });

  return async ({ action, repository, request, purpose }) => {
    const credentials = requestCredentials(request);
    if (credentials.scheme !== 'bearer') {
      return challenge(request, action, repository, 'authentication required');
    }
    const result = await check(request, credentials.token);
    if ('error' in result)
      return challenge(request, action, repository, result.error.message, 'invalid_token');
    const { access, sub } = result.claims;
    const user = sub === '' ? undefined : sub;
    const allowed: AuthDecision = user === undefined ? true : { allow: true, user };
    if (action === 'ping' || accessGrants(access, action, repository)) return allowed;
    // Filtering the catalog: a token for `registry:catalog:*` sees what its user may pull.
    if (
      action === 'pull' &&
      repository !== undefined &&
      purpose === 'catalog' &&
      accessGrants(access, 'catalog', undefined) &&
      policy !== undefined &&
      (await policy({ user, action: 'pull', repository }))
    ) {
      return allowed;
    }
    // Whether or not the user could get a better token, the answer is distribution's: docker
    // reports `insufficient_scope` as a final "denied" instead of retrying the push.
    const what = repository === undefined ? 'the catalog' : `repository ${JSON.stringify(repository)}`;
    return challenge(
      request,
      action,
      repository,
      `the token does not grant ${action} access to ${what}`,
      'insufficient_scope',
    );
  };
}
