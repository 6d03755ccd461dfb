import type { RegistryRequest } from '@wharf/core';

/** What an `Authorization` header carries. */
export type Credentials =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic'; readonly user: string; readonly password: string }
  | { readonly scheme: 'bearer'; readonly token: string }
  | { readonly scheme: 'invalid' };

/** Longest `Authorization` header considered; longer ones are refused unread. */
const MAX_AUTHORIZATION_LENGTH = 64 * 1024;

/**
 * Parses an `Authorization` header. Basic credentials with an empty user name and password count as
 * none (some clients send `Basic Og==` when they have no credentials).
 */
export function parseAuthorization(header: string | null | undefined): Credentials {
  if (header == null || header === '') return { scheme: 'none' };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { scheme: 'invalid' };
  const space = header.indexOf(' ');
  if (space < 0) return { scheme: 'invalid' };
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value ? { scheme: 'bearer', token: value } : { scheme: 'invalid' };
  if (scheme !== 'basic' || !/^[A-Za-z0-9+/]+=*$/.test(value)) return { scheme: 'invalid' };
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { scheme: 'invalid' };
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (user === '' && password === '') return { scheme: 'none' };
  if (user === '') return { scheme: 'invalid' };
  return { scheme: 'basic', user, password };
}

/** The credentials of a registry request. */
export function requestCredentials(request: RegistryRequest): Credentials {
  return parseAuthorization(request.headers.get('authorization'));
}

/**
 * The client's address for rate limiting, from what the adapter attached as `request.context`:
 * Express's `req.ip` (which honours its `trust proxy` setting), else the socket's remote address.
 */
export function defaultClientAddress(context: unknown): string {
  if (typeof context === 'object' && context !== null) {
    const ip = (context as { ip?: unknown }).ip;
    if (typeof ip === 'string' && ip) return ip;
    const socket = (context as { socket?: { remoteAddress?: unknown } }).socket;
    if (typeof socket?.remoteAddress === 'string') return socket.remoteAddress;
  }
  return 'unknown';
}

/** Quotes a value for an HTTP auth-param (RFC 9110 quoted-string). */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
