import type { Logger } from '@wharf/core';
import bcrypt from 'bcryptjs';
import type { AccessRule } from '../src/index.js';

/** Passwords of the test users (random per run, so a leak check cannot match by accident). */
export const PASSWORDS = {
  alice: `alice-${Math.random().toString(36).slice(2)}-pw`,
  bob: `bob-${Math.random().toString(36).slice(2)}-pw`,
  admin: `admin-${Math.random().toString(36).slice(2)}-pw`,
} as const;

/** An htpasswd file for the test users, with the three bcrypt prefixes (cost 4: tests stay fast). */
export function htpasswdText(): string {
  const hash = (password: string, prefix: string) =>
    bcrypt.hashSync(password, 4).replace(/^\$2[aby]\$/, `$${prefix}$`);
  return [
    '# test users',
    `alice:${hash(PASSWORDS.alice, '2y')}`,
    `bob:${hash(PASSWORDS.bob, '2a')}`,
    '',
    `admin:${hash(PASSWORDS.admin, '2b')}`,
  ].join('\n');
}

/**
 * The rules the tests use: anonymous users pull `public/**`; signed-in users pull everything
 * under `shared/**`, list the catalog, and own `<user>/**`; admin may do anything.
 */
export const RULES: readonly AccessRule[] = [
  { users: 'anonymous', repositories: 'public/**', actions: ['pull'] },
  { users: '*', repositories: ['shared/**', 'public/**'], actions: ['pull'] },
  { users: '*', actions: ['catalog'] },
  { users: '*', repositories: '{user}/**', actions: ['pull', 'push', 'delete'] },
  { users: 'admin', actions: ['*'] },
];

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A logger that keeps everything it is given, serialized. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push(
        `${level} ${message} ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v))}`,
      );
    };
  return {
    lines,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
}

/** Base64url JSON, as in a JWT segment. */
export function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a JWT's header and payload (no verification). */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>,
  };
}

/** Parses a `WWW-Authenticate` challenge into its scheme and parameters. */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } {
  if (!header) throw new Error('no challenge');
  const space = header.indexOf(' ');
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    params[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
  }
  return { scheme: header.slice(0, space), params };
}
