import { readFile } from 'node:fs/promises';
import type { RequestListener } from 'node:http';
import {
  type AccessRule,
  basicAuth,
  createTokenAuth,
  parseRules,
  readHtpasswdFile,
  realmFromHost,
} from '@wharf/auth';
import type { Authorizer, Logger } from '@wharf/core';

/** How the server authenticates clients (`WHARF_AUTH`). */
export type AuthMode = 'none' | 'basic' | 'token';

/** Authentication settings, read from the `WHARF_AUTH*`, `WHARF_HTPASSWD` and `WHARF_TOKEN_*` variables. */
export interface AuthConfig {
  readonly mode: AuthMode;
  /** htpasswd file with bcrypt hashes (`WHARF_HTPASSWD`); required for basic and token. */
  readonly htpasswd: string | undefined;
  /** Basic: the realm name. Token: the token endpoint's URL (`WHARF_AUTH_REALM`). */
  readonly realm: string | undefined;
  /** Token: the service name, the tokens' audience (`WHARF_AUTH_SERVICE`). */
  readonly service: string;
  /** Token: the tokens' issuer (`WHARF_AUTH_ISSUER`). */
  readonly issuer: string;
  /** Token: PEM private key file (EC P-256 or RSA) tokens are signed with (`WHARF_TOKEN_KEY`). */
  readonly tokenKey: string | undefined;
  /** Token: lifetime in seconds (`WHARF_TOKEN_TTL`). */
  readonly tokenTtl: number;
  /** Anonymous clients may pull every repository (`WHARF_AUTH_ANONYMOUS_PULL`). */
  readonly anonymousPull: boolean;
  /** Access rules: a JSON file, or inline JSON starting with `[` (`WHARF_AUTH_RULES`). */
  readonly rules: string | undefined;
  /** Users allowed everything (`WHARF_AUTH_ADMINS`, comma-separated). */
  readonly admins: readonly string[];
  /** Failed sign-ins allowed per client and user per window (`WHARF_AUTH_RATE_LIMIT`, `10/60`; `0` disables). */
  readonly rateLimit: { readonly attempts: number; readonly windowSeconds: number } | false;
}

function flag(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new Error(`${name} must be a boolean, got ${JSON.stringify(value)}`);
}

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new Error(`${name} must be a positive integer`);
  return number;
}

/** Reads the authentication settings; throws a readable error for bad values. */
export function readAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const mode = env.WHARF_AUTH || 'none';
  if (mode !== 'none' && mode !== 'basic' && mode !== 'token') {
    throw new Error(`WHARF_AUTH must be none, basic or token, got ${JSON.stringify(mode)}`);
  }
  if (mode !== 'none' && !env.WHARF_HTPASSWD) throw new Error(`WHARF_AUTH=${mode} needs WHARF_HTPASSWD`);
  let rateLimit: AuthConfig['rateLimit'] = { attempts: 10, windowSeconds: 60 };
  const limit = env.WHARF_AUTH_RATE_LIMIT;
  if (limit === '0') rateLimit = false;
  else if (limit) {
    const [attempts, windowSeconds = '60'] = limit.split('/');
    rateLimit = {
      attempts: positive('WHARF_AUTH_RATE_LIMIT', attempts ?? ''),
      windowSeconds: positive('WHARF_AUTH_RATE_LIMIT window', windowSeconds),
    };
  }
  return {
    mode,
    htpasswd: env.WHARF_HTPASSWD || undefined,
    realm: env.WHARF_AUTH_REALM || undefined,
    service: env.WHARF_AUTH_SERVICE || 'wharf',
    issuer: env.WHARF_AUTH_ISSUER || 'wharf',
    tokenKey: env.WHARF_TOKEN_KEY || undefined,
    tokenTtl: env.WHARF_TOKEN_TTL ? positive('WHARF_TOKEN_TTL', env.WHARF_TOKEN_TTL) : 300,
    anonymousPull: flag('WHARF_AUTH_ANONYMOUS_PULL', env.WHARF_AUTH_ANONYMOUS_PULL),
    rules: env.WHARF_AUTH_RULES || undefined,
    admins: (env.WHARF_AUTH_ADMINS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    rateLimit,
  };
}

/**
 * The rules in force: the rules file (or, without one, "signed-in users pull everything and own
 * `<user>/**`"), plus anonymous pull and admins when configured.
 */
async function loadRules(config: AuthConfig): Promise<AccessRule[]> {
  let rules: AccessRule[];
  if (config.rules) {
    const text = config.rules.trimStart().startsWith('[')
      ? config.rules
      : await readFile(config.rules, 'utf8');
    try {
      rules = parseRules(JSON.parse(text));
    } catch (error) {
      throw new Error(`WHARF_AUTH_RULES: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else {
    rules = [
      { users: '*', actions: ['pull', 'catalog'] },
      { users: '*', repositories: '{user}/**', actions: ['push', 'delete'] },
    ];
  }
  if (config.anonymousPull) rules.push({ users: 'anonymous', actions: ['pull'] });
  if (config.admins.length > 0) rules.push({ users: config.admins, actions: ['*'] });
  return rules;
}

/** What the server needs from its authentication setup. */
export interface ServerAuth {
  /** The registry's `authorize` hook (none when authentication is off). */
  readonly authorize: Authorizer | undefined;
  /** Serves the token endpoint (token mode) in front of the registry's listener. */
  route(registry: RequestListener): RequestListener;
}

/** Builds the configured authentication. */
export async function createAuth(config: AuthConfig, logger: Partial<Logger>): Promise<ServerAuth> {
  if (config.mode === 'none') return { authorize: undefined, route: (registry) => registry };
  const users = await readHtpasswdFile(config.htpasswd!);
  const rules = await loadRules(config);
  const rateLimit = config.rateLimit;

  if (config.mode === 'basic') {
    return {
      authorize: basicAuth({ users, rules, rateLimit, logger, realm: config.realm ?? 'wharf' }),
      route: (registry) => registry,
    };
  }

  let signingKey: string | undefined;
  if (config.tokenKey) {
    signingKey = await readFile(config.tokenKey, 'utf8');
  } else {
    logger.warn?.(
      {},
      'WHARF_TOKEN_KEY is not set: tokens are signed with an ephemeral key (this process only)',
    );
  }
  const realm = config.realm;
  let tokenPath = '/token';
  if (realm) {
    try {
      tokenPath = new URL(realm).pathname;
    } catch {
      throw new Error(
        'WHARF_AUTH_REALM must be the token endpoint URL (e.g. https://registry.example/token)',
      );
    }
  }
  const auth = createTokenAuth({
    users,
    rules,
    rateLimit,
    logger,
    service: config.service,
    issuer: config.issuer,
    expiresIn: config.tokenTtl,
    realm: realm ?? realmFromHost(tokenPath),
    // Tokens for clients without credentials, when any rule lets anonymous users in.
    anonymous: rules.some((rule) => rule.users === undefined || [rule.users].flat().includes('anonymous')),
    ...(signingKey === undefined ? {} : { signingKey }),
  });
  return {
    authorize: auth.authorize,
    route: (registry) => (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path === tokenPath) auth.issuer.listener(req, res);
      else registry(req, res);
    },
  };
}
