import type { TestRegistry } from '../src/index.js';

/** Parses `Bearer realm="…",service="…"` into its scheme and parameters. */
export function challenge(header: string | null): { scheme: string; params: Record<string, string> } {
  const [scheme = '', rest = ''] = (header ?? '').split(/\s+(.*)/s);
  const params: Record<string, string> = {};
  for (const match of rest.matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return { scheme: scheme.toLowerCase(), params };
}

/**
 * A fetch that does what registry clients do on a 401: Basic credentials for a Basic challenge,
 * or a token from the Bearer challenge's realm (with Basic credentials when given), then the retry.
 */
export function signedInFetch(
  registry: TestRegistry,
  credentials?: { user: string; password: string },
): (path: string, init?: RequestInit) => Promise<Response> {
  const basic =
    credentials && `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  return async (path, init = {}) => {
    const first = await registry.fetch(path, init);
    if (first.status !== 401) return first;
    const { scheme, params } = challenge(first.headers.get('www-authenticate'));
    let authorization: string;
    if (scheme === 'basic') {
      if (!basic) return first;
      authorization = basic;
    } else {
      const url = new URL(params.realm!);
      url.searchParams.set('service', params.service!);
      if (params.scope) url.searchParams.set('scope', params.scope);
      const token = await registry.fetch(url, basic ? { headers: { Authorization: basic } } : {});
      if (token.status !== 200) return token;
      authorization = `Bearer ${((await token.json()) as { token: string }).token}`;
    }
    const headers = new Headers(init.headers);
    headers.set('Authorization', authorization);
    return registry.fetch(path, { ...init, headers });
  };
}

/** `n` tag names in lexical order. */
export function tagNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `t${String(i).padStart(3, '0')}`);
}
