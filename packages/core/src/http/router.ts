/**
 * A recognised registry endpoint. Names and references are raw: still percent-encoded, exactly as
 * they appeared in the request target (see {@link decodeSegment} and `parseRepositoryPath`).
 */
export type Route =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'uploads'; readonly name: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

// Names may contain slashes, so each pattern anchors on its fixed tail and takes the rest as name.
const PATTERNS: ReadonlyArray<readonly [RegExp, (m: RegExpExecArray) => Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog\/?$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list\/?$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/**
 * Matches a raw (still percent-encoded) path against the registry's endpoints. Matching before
 * decoding is what keeps `%2f` inside a name from creating a path separator: `/v2/a%2fb/…` names
 * the one segment `a%2fb`, which its parser then rejects.
 */
export function matchRoute(rawPath: string): Route | undefined {
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(rawPath);
    if (match) return build(match);
  }
  return undefined;
}

/** Splits a request URL (path and query) into its raw, undecoded path and its query parameters. */
export function parseRequestUrl(target: string): { rawPath: string; query: URLSearchParams } {
  let url = target;
  // Absolute-form request targets (from proxies) carry an origin; only the path matters.
  if (/^https?:\/\//i.test(url)) {
    const slash = url.indexOf('/', url.indexOf('//') + 2);
    url = slash < 0 ? '/' : url.slice(slash);
  }
  const question = url.indexOf('?');
  const rawPath = question < 0 ? url : url.slice(0, question);
  const query = new URLSearchParams(question < 0 ? '' : url.slice(question + 1));
  return { rawPath, query };
}
