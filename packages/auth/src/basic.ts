import { type Authorizer, RegistryError, type RegistryRequest } from '@wharf/core';
import { Authenticator, type AuthenticatorOptions } from './authenticator.js';
import { defaultClientAddress, quote, requestCredentials } from './credentials.js';
import { validateBasicAuthOptions } from './options.js';
import { type AccessPolicy, type AccessRule, rulesPolicy } from './policy.js';

/** Options of {@link basicAuth}. */
export interface BasicAuthOptions extends AuthenticatorOptions {
  /** What each user may do. Give this or `rules`. */
  readonly policy?: AccessPolicy;
  /** Allow rules (see `AccessRule`), when no `policy` is given. */
  readonly rules?: readonly AccessRule[];
  /** The realm of the `WWW-Authenticate: Basic` challenge. Default `wharf`. */
  readonly realm?: string;
  /** The client's address, for rate limiting. Default: from the adapter's request context. */
  readonly clientAddress?: (request: RegistryRequest) => string;
}

type Identity = { readonly user: string | undefined } | { readonly invalid: true };

/** Resolves a policy from `policy` or `rules`. */
export function policyOf(options: { policy?: AccessPolicy; rules?: readonly AccessRule[] }): AccessPolicy {
  if (options.policy) return options.policy;
  if (options.rules) return rulesPolicy(options.rules);
  throw new TypeError('an access policy or rules are required');
}

/**
 * An `authorize` hook for HTTP Basic authentication: users from `users` (e.g. an htpasswd file),
 * permissions from `policy` or `rules`.
 *
 * - Missing credentials are an anonymous request: allowed what the policy allows anonymous users,
 *   otherwise 401 with `WWW-Authenticate: Basic realm="…"`. `GET /v2/` always asks anonymous
 *   clients for credentials, which is how clients learn to send them.
 * - Wrong credentials: 401 with the challenge. Too many failures from one address: 429.
 * - Signed in but not allowed: 403 `DENIED`, naming the action and repository.
 * - Allowed: the decision names the user (for access logs, metrics and events).
 *
 * @example
 * ```ts
 * const registry = createRegistry({
 *   authorize: basicAuth({
 *     users: await readHtpasswdFile('/etc/wharf/htpasswd'),
 *     rules: [{ users: '*', repositories: '{user}/**', actions: ['*'] }],
 *   }),
 * });
 * ```
 */
export function basicAuth(options: BasicAuthOptions): Authorizer {
  validateBasicAuthOptions(options);
  const policy = policyOf(options);
  const authenticator = new Authenticator(options);
  const challenge = `Basic realm=${quote(options.realm ?? 'wharf')}`;
  const addressOf =
    options.clientAddress ?? ((request: RegistryRequest) => defaultClientAddress(request.context));
  // The hook runs once per repository when the catalog is filtered: authenticate each request once.
  const identities = new WeakMap<RegistryRequest, Promise<Identity>>();

  async function identify(request: RegistryRequest): Promise<Identity> {
    const credentials = requestCredentials(request);
    if (credentials.scheme === 'none') return { user: undefined };
    if (credentials.scheme !== 'basic') return { invalid: true };
    const result = await authenticator.authenticate(
      credentials.user,
      credentials.password,
      addressOf(request),
    );
    if (result.ok) return { user: result.user };
    if (result.retryAfter) {
      throw new RegistryError('TOOMANYREQUESTS', {
        message: 'too many failed sign-in attempts',
        headers: { 'Retry-After': String(result.retryAfter) },
      });
    }
    return { invalid: true };
  }

  const unauthorized = (message: string) => ({ allow: false, status: 401, challenge, message }) as const;

  return async ({ action, repository, request }) => {
    let identity = identities.get(request);
    if (!identity) {
      identity = identify(request);
      identities.set(request, identity);
    }
    const who = await identity;
    if ('invalid' in who) return unauthorized('invalid credentials');
    const { user } = who;
    // `GET /v2/` asks anonymous clients for credentials; everything else is up to the policy.
    const allowed =
      action === 'ping'
        ? user !== undefined
        : await policy({ user, action, ...(repository === undefined ? {} : { repository }) });
    if (allowed) return user === undefined ? true : { allow: true, user };
    return user === undefined ? unauthorized('authentication required') : false;
  };
}
