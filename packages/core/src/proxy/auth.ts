import type { UpstreamConfig } from './config.js';
import { UpstreamError } from './errors.js';
import { readSmall, send } from './http.js';
import { Flights } from './limiter.js';
import type { UpstreamCredentials, UpstreamRequestEvent } from './types.js';

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  /** Lower-cased: `basic`, `bearer`. */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses the first challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): a scheme and its
 * `name=value` / `name="quoted value"` parameters, as registries send them.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+(.*))?$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const rest = match[2] ?? '';
  const param = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  for (let found = param.exec(rest); found; found = param.exec(rest)) {
    params[found[1]!.toLowerCase()] = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : found[3]!;
    if (param.lastIndex >= rest.length) break;
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

/** The scope of a pull from an upstream repository (Docker token authentication). */
export function pullScope(remote: string): string {
  return `repository:${remote}:pull`;
}

interface Token {
  readonly authorization: string;
  readonly expires: number;
}

/** Tokens the upstream hands out without `expires_in` last this long (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Largest token response read. */
const TOKEN_RESPONSE_MAX = 1024 * 1024;

function basic(credentials: UpstreamCredentials): string | undefined {
  if (!('username' in credentials)) return undefined;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * Authentication to one upstream: a static bearer token is sent as is; otherwise the first 401
 * says how (its `WWW-Authenticate`): HTTP Basic with the credentials, or Docker token
 * authentication (a token from the challenge's realm, per scope, cached until shortly before it
 * expires and fetched once for concurrent requests).
 */
export class UpstreamAuth {
  readonly #config: UpstreamConfig;
  readonly #report: (event: UpstreamRequestEvent) => void;
  #scheme: 'basic' | 'bearer' | undefined;
  readonly #tokens = new Map<string, Token>();
  readonly #fetching = new Flights();

  constructor(config: UpstreamConfig, report: (event: UpstreamRequestEvent) => void) {
    this.#config = config;
    this.#report = report;
  }

  async #credentials(): Promise<UpstreamCredentials | undefined> {
    const { credentials } = this.#config;
    return typeof credentials === 'function' ? await credentials() : credentials;
  }

  /** The `Authorization` to send with a request for `scope`, when it is already known. */
  async current(scope: string): Promise<string | undefined> {
    if (this.#scheme === 'bearer') {
      const token = this.#tokens.get(scope);
      if (token && token.expires > Date.now()) return token.authorization;
      return undefined;
    }
    const credentials = await this.#credentials();
    if (credentials && 'token' in credentials) return `Bearer ${credentials.token}`;
    if (this.#scheme === 'basic' && credentials) return basic(credentials);
    return undefined;
  }

  /**
   * Answers a 401's challenge: the `Authorization` to retry with, or `undefined` when there is
   * nothing more to try (an unknown scheme, Basic without credentials).
   */
  async answer(header: string | undefined, scope: string): Promise<string | undefined> {
    const challenge = parseChallenge(header);
    if (challenge?.scheme === 'basic') {
      this.#scheme = 'basic';
      const credentials = await this.#credentials();
      return credentials ? basic(credentials) : undefined;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return undefined;
    this.#scheme = 'bearer';
    this.#tokens.delete(scope);
    const token = await this.#fetching.run(scope, () => this.#fetchToken(challenge, scope));
    this.#tokens.set(scope, token);
    return token.authorization;
  }

  async #fetchToken(challenge: Challenge, scope: string): Promise<Token> {
    const { namespace, timeouts } = this.#config;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm!);
    } catch {
      throw new UpstreamError(namespace, 'denied', 'the token realm is not a URL');
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new UpstreamError(namespace, 'denied', 'the token realm is not an http(s) URL');
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', scope);
    const credentials = await this.#credentials();
    const authorization = credentials && basic(credentials);
    const started = process.hrtime.bigint();
    let status: number | undefined;
    let bytes = 0;
    let failure: string | undefined;
    try {
      const res = await send({
        method: 'GET',
        url: realm,
        headers: {
          'User-Agent': 'wharf',
          Accept: 'application/json',
          ...(authorization ? { Authorization: authorization } : {}),
        },
        timeout: timeouts.request,
        idle: timeouts.idle,
        upstream: namespace,
      });
      status = res.statusCode;
      const body = await readSmall(res, res.headers['content-length'], TOKEN_RESPONSE_MAX, namespace);
      bytes = body.byteLength;
      if (status === 401 || status === 403) {
        throw new UpstreamError(
          namespace,
          'denied',
          `the token endpoint refused the credentials (${status})`,
          { status },
        );
      }
      if (status !== 200) {
        throw new UpstreamError(namespace, 'status', `the token endpoint answered ${status}`, { status });
      }
      let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
      try {
        parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
      } catch {
        throw new UpstreamError(namespace, 'invalid', 'the token endpoint did not answer JSON');
      }
      const value = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
      if (typeof value !== 'string' || value === '') {
        throw new UpstreamError(namespace, 'invalid', 'the token endpoint answered no token');
      }
      const seconds =
        typeof parsed.expires_in === 'number' && parsed.expires_in > 0
          ? parsed.expires_in
          : DEFAULT_TOKEN_SECONDS;
      // Renew a little early: a token must not expire between this check and the upstream's.
      return { authorization: `Bearer ${value}`, expires: Date.now() + seconds * 900 };
    } catch (error) {
      failure = error instanceof UpstreamError ? error.kind : 'unreachable';
      throw error;
    } finally {
      this.#report({
        upstream: namespace,
        method: 'GET',
        kind: 'token',
        status,
        error: failure,
        bytes,
        durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    }
  }
}
