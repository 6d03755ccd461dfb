import { readFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import {
  type AccessRule,
  basicAuth,
  cachedVerifier,
  createTokenAuth,
  type HtpasswdUsers,
  type JsonWebKeySet,
  parseRules,
  readHtpasswdFile,
  realmFromHost,
  tokenAuth,
  type VerifyCredentials,
} from '@wharf/auth';
import {
  type Authorizer,
  type LogFields,
  type Logger,
  RegistryError,
  type RegistryRequest,
} from '@wharf/core';
import type { Settings } from './config/settings.js';

/** What the server needs from its authentication setup. */
export interface ServerAuth {
  /** The registry's `authorize` hook (none when everything is allowed). */
  readonly authorize: Authorizer | undefined;
  /** The token endpoint's path, when the server issues tokens. */
  readonly tokenPath: string | undefined;
  /** Serves the token endpoint. */
  readonly tokenListener: RequestListener | undefined;
  /** Re-reads the htpasswd file (SIGHUP). */
  reload(): Promise<void>;
}

/**
 * Users from an htpasswd file that can be re-read without restarting. It keeps the cache of
 * successful sign-ins itself (the auth hooks get `cacheSeconds: 0`), so a reload also forgets
 * users who were removed or whose password changed.
 */
class ReloadableUsers {
  #verify: VerifyCredentials;
  private constructor(
    readonly path: string,
    users: HtpasswdUsers,
  ) {
    this.#verify = ReloadableUsers.#cached(users);
  }
  static #cached(users: HtpasswdUsers): VerifyCredentials {
    return cachedVerifier((user, password) => users.verify(user, password), 60);
  }
  static async load(path: string): Promise<ReloadableUsers> {
    return new ReloadableUsers(path, await readHtpasswdFile(path));
  }
  readonly verify = (user: string, password: string): Promise<boolean> | boolean =>
    this.#verify(user, password);
  async reload(): Promise<void> {
    this.#verify = ReloadableUsers.#cached(await readHtpasswdFile(this.path));
  }
}

/** The rules in force: configured (or everything for signed-in users), plus anonymous pull and admins. */
async function loadRules(access: Settings['access']): Promise<AccessRule[]> {
  let rules: AccessRule[];
  if (typeof access.rules === 'string') {
    const text = await readFile(access.rules, 'utf8');
    try {
      rules = parseRules(JSON.parse(text));
    } catch (error) {
      throw new Error(
        `wharf.auth.rules: ${access.rules}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  } else if (access.rules) {
    rules = [...access.rules];
  } else {
    // As with distribution's htpasswd: whoever signs in may do everything.
    rules = [{ users: '*', actions: ['*'] }];
  }
  if (access.anonymousPull) rules.push({ users: 'anonymous', actions: ['pull'] });
  if (access.admins.length > 0) rules.push({ users: [...access.admins], actions: ['*'] });
  return rules;
}

/** The user a request authenticated as: Basic's user name, or a token's `sub`. */
function userOf(request: RegistryRequest): string | undefined {
  const header = request.headers.get('authorization') ?? '';
  const [scheme, value = ''] = header.split(' ', 2);
  try {
    if (scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon > 0 ? decoded.slice(0, colon) : undefined;
    }
    if (scheme?.toLowerCase() === 'bearer') {
      const payload = JSON.parse(Buffer.from(value.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
        sub?: unknown;
      };
      return typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    }
  } catch {
    // Not decodable: no user to show.
  }
  return undefined;
}

/**
 * Names the caller of allowed requests (for access logs and metrics): the hook already checked the
 * credentials, so the name in them is who the caller is.
 */
function withUser(authorize: Authorizer): Authorizer {
  return async (context) => {
    const decision = await authorize(context);
    if (
      decision === true ||
      (typeof decision === 'object' && decision.allow && decision.user === undefined)
    ) {
      const user = userOf(context.request);
      return user === undefined ? true : { allow: true, user };
    }
    return decision;
  };
}

/** Distribution's read-only mode: pushes and deletes are refused with 405 `UNSUPPORTED`. */
function readOnly(authorize: Authorizer | undefined): Authorizer {
  return (context) => {
    if (context.action === 'push' || context.action === 'delete') {
      throw new RegistryError('UNSUPPORTED', { message: 'the registry is in read-only mode' });
    }
    return authorize ? authorize(context) : true;
  };
}

/** Failures the auth hooks log, counted for metrics. */
export type AuthFailure = 'credentials' | 'token' | 'rate_limited';

/** A logger for the auth hooks that also reports failures. */
function countingLogger(logger: Logger, onFailure: (reason: AuthFailure) => void): Logger {
  return {
    debug: (fields: LogFields, message: string) => {
      if (message === 'token rejected') onFailure('token');
      logger.debug(fields, message);
    },
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => {
      if (message === 'authentication failed') onFailure('credentials');
      if (message === 'authentication rate limited') onFailure('rate_limited');
      logger.warn(fields, message);
    },
    error: (fields, message) => logger.error(fields, message),
  };
}

/** Builds the configured authentication. */
export async function createAuth(
  settings: Settings,
  baseLogger: Logger,
  onFailure: (reason: AuthFailure) => void = () => {},
): Promise<ServerAuth> {
  const auth = settings.auth;
  const logger = countingLogger(baseLogger, onFailure);
  const finish = (authorize: Authorizer | undefined, extra: Partial<ServerAuth> = {}): ServerAuth => {
    let hook = authorize && withUser(authorize);
    if (settings.readOnly) hook = readOnly(hook);
    return {
      authorize: hook,
      tokenPath: undefined,
      tokenListener: undefined,
      reload: async () => {},
      ...extra,
    };
  };
  if (auth.kind === 'none') return finish(undefined);
  const rateLimit = settings.access.rateLimit;

  if (auth.kind === 'token') {
    const publicKeys = auth.rootCertBundle ? [await readFile(auth.rootCertBundle, 'utf8')] : [];
    const jwks = auth.jwks ? (JSON.parse(await readFile(auth.jwks, 'utf8')) as JsonWebKeySet) : undefined;
    return finish(
      tokenAuth({
        realm: auth.realm,
        service: auth.service,
        issuer: auth.issuer,
        publicKeys,
        ...(jwks ? { jwks } : {}),
        logger,
      }),
    );
  }

  const users = await ReloadableUsers.load(auth.htpasswd);
  const rules = await loadRules(settings.access);
  const reload = () => users.reload();

  if (auth.kind === 'basic') {
    return finish(basicAuth({ users, cacheSeconds: 0, rules, rateLimit, logger, realm: auth.realm }), {
      reload,
    });
  }

  let signingKey: string | undefined;
  if (auth.key) signingKey = await readFile(auth.key, 'utf8');
  else
    baseLogger.warn({}, 'wharf.auth.token.key is not set: tokens are signed with a key of this process only');
  const tokenPath = auth.realm ? new URL(auth.realm).pathname : '/token';
  const realm = auth.realm ?? (settings.http.host ? `${settings.http.host}${tokenPath}` : undefined);
  const tokens = createTokenAuth({
    users,
    cacheSeconds: 0,
    rules,
    rateLimit,
    logger,
    service: auth.service,
    issuer: auth.issuer,
    expiresIn: auth.ttlSeconds,
    realm: realm ?? realmFromHost(tokenPath, settings.http.tls ? 'https' : 'http'),
    // Tokens for clients without credentials, when any rule lets anonymous users in.
    anonymous: rules.some((rule) => rule.users === undefined || [rule.users].flat().includes('anonymous')),
    ...(signingKey === undefined ? {} : { signingKey }),
  });
  return finish(tokens.authorize, { tokenPath, tokenListener: tokens.issuer.listener, reload });
}
