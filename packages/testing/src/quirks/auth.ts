import { randomBytes } from 'node:crypto';
import {
  jsonResponse,
  type RegistryAction,
  type RegistryRequest,
  type RegistryResponse,
  type RouteMiddleware,
} from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { errorResponse } from '../responses.js';
import type { BasicAuthQuirk, BearerAuthQuirk } from './types.js';

interface Grant {
  readonly expires: number;
  /** `repository:<name>` or `registry:catalog` → actions. */
  readonly access: ReadonlyMap<string, ReadonlySet<string>>;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** The scope a route needs, as distribution's challenges name it. */
function scopeOf(action: RegistryAction, repository: string | undefined): string | undefined {
  if (action === 'catalog') return 'registry:catalog:*';
  if (repository === undefined || action === 'ping') return undefined;
  const actions = action === 'pull' ? 'pull' : action === 'push' ? 'pull,push' : 'delete';
  return `repository:${repository}:${actions}`;
}

function grants(grant: Grant, action: RegistryAction, repository: string | undefined): boolean {
  if (action === 'ping') return true;
  if (action === 'catalog') return grant.access.get('registry:catalog')?.has('*') ?? false;
  const actions = grant.access.get(`repository:${repository}`);
  if (!actions) return false;
  return actions.has('*') || actions.has(action);
}

/**
 * Docker token authentication as registries such as Docker Hub and GHCR run it: the registry
 * answers 401 with a Bearer challenge naming the kit's token endpoint, which hands out opaque
 * tokens that expire on the registry's clock. Anonymous clients get pull tokens (unless
 * `anonymousPull` is false); any Basic credentials get everything they ask for.
 */
export class TokenService {
  readonly #quirk: BearerAuthQuirk;
  readonly #env: KitEnvironment;
  readonly #tokens = new Map<string, Grant>();

  constructor(quirk: BearerAuthQuirk, env: KitEnvironment) {
    this.#quirk = quirk;
    this.#env = env;
  }

  /** The token endpoint's path. */
  get path(): string {
    return this.#quirk.realmPath ?? '/token';
  }

  /** Forgets every token issued. */
  reset(): void {
    this.#tokens.clear();
  }

  /** Answers a token request (`GET <realm>?service=…&scope=…`, optionally with Basic credentials). */
  issue(request: RegistryRequest): RegistryResponse {
    const query = new URL(request.url, 'http://token.local').searchParams;
    const service = query.get('service');
    if (service !== null && service !== this.#quirk.service) {
      return errorResponse(400, 'UNSUPPORTED', `unknown service ${JSON.stringify(service)}`);
    }
    const authorization = request.headers.get('authorization') ?? '';
    const signedIn = /^basic\s+\S+/i.test(authorization);
    if (!signedIn && this.#quirk.anonymousPull === false) {
      return errorResponse(401, 'UNAUTHORIZED', 'authentication required', {
        headers: { 'WWW-Authenticate': `Basic realm=${quote(this.#quirk.service)}` },
      });
    }
    const access = new Map<string, Set<string>>();
    for (const scope of query.getAll('scope').flatMap((s) => s.split(' '))) {
      const [type, name, actions] = [scope.slice(0, scope.indexOf(':')), ...splitScope(scope)];
      if (!name || actions === undefined) continue;
      const wanted = actions.split(',').filter((a) => signedIn || a === 'pull');
      if (wanted.length === 0) continue;
      const key = `${type}:${type === 'registry' ? 'catalog' : name}`;
      access.set(key, new Set([...(access.get(key) ?? []), ...wanted]));
    }
    const expiresIn = this.#quirk.expiresIn ?? 300;
    const now = this.#env.clock.now();
    const token = randomBytes(24).toString('base64url');
    this.#tokens.set(token, { expires: now + expiresIn * 1000, access });
    return jsonResponse(200, {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date(now).toISOString(),
    });
  }

  /** Checks a request's bearer token; resolves the 401 to answer, or `undefined` to go on. */
  check(
    request: RegistryRequest,
    origin: string,
    action: RegistryAction,
    repository: string | undefined,
  ): RegistryResponse | undefined {
    const scope = scopeOf(action, repository);
    const challenge = (error?: 'invalid_token' | 'insufficient_scope') =>
      `Bearer realm=${quote(`${origin}${this.path}`)},service=${quote(this.#quirk.service)}${
        scope ? `,scope=${quote(scope)}` : ''
      }${error ? `,error=${quote(error)}` : ''}`;
    const match = /^bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '');
    if (!match) {
      return errorResponse(401, 'UNAUTHORIZED', 'authentication required', {
        headers: { 'WWW-Authenticate': challenge() },
      });
    }
    const grant = this.#tokens.get(match[1]!);
    if (!grant || grant.expires <= this.#env.clock.now()) {
      return errorResponse(401, 'UNAUTHORIZED', 'invalid or expired token', {
        headers: { 'WWW-Authenticate': challenge('invalid_token') },
      });
    }
    if (!grants(grant, action, repository)) {
      return errorResponse(401, 'UNAUTHORIZED', 'insufficient scope', {
        headers: { 'WWW-Authenticate': challenge('insufficient_scope') },
      });
    }
    return undefined;
  }
}

/** `repository:team/app:pull,push` → `['team/app', 'pull,push']` (names may not hold `:`). */
function splitScope(scope: string): [string | undefined, string | undefined] {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return [undefined, undefined];
  return [scope.slice(first + 1, last), scope.slice(last + 1)];
}

/** The middleware that demands a bearer token (from `service`) or Basic credentials on every route. */
export function authMiddleware(
  quirk: BearerAuthQuirk | BasicAuthQuirk,
  env: KitEnvironment,
  tokens: TokenService | undefined,
): RouteMiddleware {
  return async (call, next) => {
    const exchange = env.exchangeOf(call.request);
    const origin = exchange?.origin ?? 'http://registry.local';
    if (quirk.scheme === 'bearer') {
      const refusal = tokens!.check(call.request, origin, call.action, call.params.repository);
      return refusal ?? next();
    }
    if (/^basic\s+\S+/i.test(call.request.headers.get('authorization') ?? '')) return next();
    const realm = quirk.realm.replace('{origin}', origin);
    return errorResponse(401, 'UNAUTHORIZED', 'authentication required', {
      headers: {
        'WWW-Authenticate': `Basic realm=${quote(realm)}${quirk.service ? `,service=${quote(quirk.service)}` : ''}`,
      },
    });
  };
}
