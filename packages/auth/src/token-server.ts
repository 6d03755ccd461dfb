import { type KeyObject, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HeaderLookup, Logger } from '@wharf/core';
import { isRegistryError, systemClock } from '@wharf/core';
import { Authenticator, type AuthenticatorOptions } from './authenticator.js';
import { policyOf } from './basic.js';
import { type Credentials, parseAuthorization, quote } from './credentials.js';
import { type AccessEntry, signToken, type TokenClaims } from './jwt.js';
import {
  generateSigningKey,
  type JsonWebKeySet,
  signingKey as loadSigningKey,
  publicJwk,
  type SigningKey,
  type VerificationKey,
  verificationKeys,
} from './keys.js';
import { validateTokenIssuerOptions } from './options.js';
import type { AccessPolicy, AccessRule } from './policy.js';
import { formatAccess, parseScopes, REPOSITORY_ACTIONS, type RepositoryAction, type Scope } from './scope.js';

/** Options of {@link createTokenIssuer}. */
export interface TokenIssuerOptions extends AuthenticatorOptions {
  /** The registry's service name (the tokens' `aud`). Default `wharf`. */
  readonly service?: string;
  /** The tokens' `iss`. Default `wharf`. */
  readonly issuer?: string;
  /** What each user may do. Give this or `rules`. */
  readonly policy?: AccessPolicy;
  /** Allow rules (see `AccessRule`), when no `policy` is given. */
  readonly rules?: readonly AccessRule[];
  /**
   * The private key tokens are signed with (EC P-256 → ES256, RSA → RS256): PEM, a `KeyObject`,
   * or a loaded key. Default: a fresh ES256 key, so tokens die with the process and are not valid
   * on other replicas.
   */
  readonly signingKey?: SigningKey | string | Buffer | KeyObject;
  /** Token lifetime in seconds. Default 300. */
  readonly expiresIn?: number;
  /**
   * Issue tokens to clients without credentials: pull only, for the repositories the policy lets
   * anonymous users pull. Default false (such clients get 401).
   */
  readonly anonymous?: boolean;
  /** The realm of the endpoint's own `WWW-Authenticate: Basic` challenge. Default `wharf`. */
  readonly basicRealm?: string;
  /** The client's address for rate limiting, from a node request. Default: the socket's address. */
  readonly clientAddress?: (req: IncomingMessage) => string;
}

/** A token request, framework-free. */
export interface TokenRequest {
  readonly method: string;
  /** Path and query, e.g. `/token?service=wharf&scope=repository:a/b:pull`. */
  readonly url: string;
  readonly headers: HeaderLookup;
  /** The body of a POST (an OAuth2 form); ignored for GET. */
  readonly body?: string | Uint8Array | AsyncIterable<Uint8Array> | null;
  /** Who is asking, for rate limiting. Default `unknown` (all such clients share one budget). */
  readonly clientAddress?: string;
}

/** A token endpoint's answer. */
export interface TokenResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The JSON of a successful token response. */
export interface TokenGrant {
  readonly token: string;
  readonly access_token: string;
  readonly expires_in: number;
  readonly issued_at: string;
}

/** A token endpoint (Docker token authentication) with its signing key. */
export interface TokenIssuer {
  /** Answers a token request (GET with Basic credentials, or an OAuth2 password-grant POST). */
  handle(request: TokenRequest): Promise<TokenResponse>;
  /** A `node:http` listener for the endpoint (mount it on the realm's path). */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** Issues a token for `user` (`undefined`: anonymous) and the requested scopes, as the endpoint would. */
  issue(user: string | undefined, scopes: readonly Scope[]): Promise<TokenGrant & { claims: TokenClaims }>;
  /** The public key(s) verifying this issuer's tokens. */
  readonly verificationKeys: readonly VerificationKey[];
  /** The public JWKS, for registries elsewhere that trust this issuer. */
  jwks(): JsonWebKeySet;
  readonly service: string;
  readonly issuer: string;
  readonly policy: AccessPolicy;
}

/** Largest token request body read (an OAuth2 form is tiny). */
const MAX_BODY_BYTES = 64 * 1024;

const JSON_HEADERS = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
};

function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): TokenResponse {
  return {
    status,
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify({ errors: [{ code, message }] }),
  };
}

class BadRequest extends Error {}

async function readBody(body: TokenRequest['body']): Promise<string> {
  if (body == null) return '';
  if (typeof body === 'string') {
    if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw new BadRequest('request body too large');
    return body;
  }
  if (body instanceof Uint8Array) {
    if (body.byteLength > MAX_BODY_BYTES) throw new BadRequest('request body too large');
    return Buffer.from(body).toString('utf8');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new BadRequest('request body too large');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Creates the built-in token endpoint: it checks the client's credentials (rate limited per client
 * address and user name: 429 `TOOMANYREQUESTS` with `Retry-After`), grants the intersection of the
 * requested scopes and what the policy allows the user, and returns a short-lived JWT signed with
 * ES256 or RS256 carrying `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti` and `access`.
 *
 * Requests: `GET ?service=…&scope=…` with `Authorization: Basic` (or none, for anonymous tokens),
 * or `POST` form `grant_type=password&username=…&password=…&service=…&scope=…`.
 */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  validateTokenIssuerOptions('createTokenIssuer', options);
  const policy = policyOf(options);
  const authenticator = new Authenticator(options);
  const service = options.service ?? 'wharf';
  const issuerName = options.issuer ?? 'wharf';
  const expiresIn = options.expiresIn ?? 300;
  if (!(expiresIn > 0)) throw new RangeError('expiresIn must be positive');
  const key: SigningKey =
    options.signingKey === undefined
      ? generateSigningKey()
      : isSigningKey(options.signingKey)
        ? options.signingKey
        : loadSigningKey(options.signingKey);
  const logger: Partial<Logger> | undefined = options.logger;
  const basicChallenge = `Basic realm=${quote(options.basicRealm ?? 'wharf')}`;
  const clock = options.clock ?? systemClock;

  async function grant(user: string | undefined, scopes: readonly Scope[]): Promise<AccessEntry[]> {
    const granted: AccessEntry[] = [];
    for (const scope of scopes) {
      if (scope.type === 'registry') {
        if (scope.actions.includes('*') && (await policy({ user, action: 'catalog' }))) {
          granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        }
        continue;
      }
      const wanted = scope.actions.includes('*')
        ? REPOSITORY_ACTIONS
        : REPOSITORY_ACTIONS.filter((a) => scope.actions.includes(a));
      const actions: RepositoryAction[] = [];
      for (const action of wanted) {
        // Anonymous tokens only ever read.
        if (user === undefined && action !== 'pull') continue;
        if (await policy({ user, action, repository: scope.name })) actions.push(action);
      }
      if (actions.length > 0) granted.push({ type: 'repository', name: scope.name, actions });
    }
    return granted;
  }

  async function issue(user: string | undefined, scopes: readonly Scope[]) {
    const now = Math.floor(clock.now() / 1000);
    const access = await grant(user, scopes);
    const claims: TokenClaims = {
      iss: issuerName,
      sub: user ?? '',
      aud: service,
      exp: now + expiresIn,
      nbf: now,
      iat: now,
      jti: randomBytes(16).toString('base64url'),
      access,
    };
    const token = signToken(claims, key);
    return {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
      claims,
    };
  }

  async function handle(request: TokenRequest): Promise<TokenResponse> {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST') {
      return errorResponse(405, 'UNSUPPORTED', 'use GET or POST', { Allow: 'GET, POST' });
    }
    const query = new URL(request.url, 'http://token.local').searchParams;
    const scopeValues = query.getAll('scope');
    let requestedService = query.get('service');
    let credentials: Credentials;
    try {
      if (method === 'POST') {
        const form = new URLSearchParams(await readBody(request.body));
        const grantType = form.get('grant_type');
        if (grantType !== 'password') {
          return errorResponse(400, 'UNSUPPORTED', 'only the password grant is supported');
        }
        const username = form.get('username') ?? '';
        credentials =
          username === ''
            ? { scheme: 'invalid' }
            : { scheme: 'basic', user: username, password: form.get('password') ?? '' };
        requestedService = form.get('service') ?? requestedService;
        scopeValues.push(...form.getAll('scope'));
      } else {
        credentials = parseAuthorization(request.headers.get('authorization'));
      }
    } catch (error) {
      if (error instanceof BadRequest) return errorResponse(400, 'UNSUPPORTED', error.message);
      throw error;
    }
    if (requestedService !== null && requestedService !== service) {
      return errorResponse(400, 'UNSUPPORTED', 'unknown service');
    }
    const address = request.clientAddress ?? 'unknown';
    const scopes = parseScopes(scopeValues);

    let user: string | undefined;
    if (credentials.scheme === 'none' && options.anonymous) {
      user = undefined;
    } else if (credentials.scheme === 'basic') {
      const result = await authenticator.authenticate(credentials.user, credentials.password, address);
      if (!result.ok) {
        if (result.retryAfter) {
          return errorResponse(429, 'TOOMANYREQUESTS', 'too many failed sign-in attempts', {
            'Retry-After': String(result.retryAfter),
          });
        }
        return errorResponse(401, 'UNAUTHORIZED', 'invalid credentials', {
          'WWW-Authenticate': basicChallenge,
        });
      }
      user = result.user;
    } else {
      return errorResponse(401, 'UNAUTHORIZED', 'authentication required', {
        'WWW-Authenticate': basicChallenge,
      });
    }

    const { claims, ...body } = await issue(user, scopes);
    logger?.info?.(
      { user: user ?? '(anonymous)', address, access: claims.access.map(formatAccess) },
      'token issued',
    );
    return { status: 200, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
  }

  /** {@link handle}, with registry errors turned into their JSON error responses. */
  const respond = (request: TokenRequest): Promise<TokenResponse> =>
    handle(request).catch((error: unknown) => {
      if (isRegistryError(error)) return errorResponse(error.status, error.code, error.message);
      throw error;
    });

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const request: TokenRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: {
        get(name) {
          const value = req.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
      },
      body: req.method === 'POST' ? req : null,
      clientAddress: options.clientAddress?.(req) ?? req.socket.remoteAddress ?? 'unknown',
    };
    respond(request)
      .catch((error: unknown) => {
        logger?.error?.({ error: error instanceof Error ? error.name : 'error' }, 'token request failed');
        return errorResponse(500, 'UNKNOWN', 'internal server error');
      })
      .then((response) => {
        res.writeHead(response.status, response.headers).end(response.body);
      });
  };

  return {
    handle: respond,
    listener,
    issue,
    verificationKeys: verificationKeys(key.key, key.kid),
    jwks: () => ({ keys: [publicJwk(key)] }),
    service,
    issuer: issuerName,
    policy,
  };
}

function isSigningKey(value: unknown): value is SigningKey {
  return typeof value === 'object' && value !== null && 'algorithm' in value && 'kid' in value;
}
