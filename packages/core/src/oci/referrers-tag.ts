/**
 * The referrers tag schema: the tag under which clients of registries without the referrers API
 * keep an index of a digest's referrers (`sha256:abc…` → `sha256-abc…`).
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon).slice(0, 32);
  const encoded = digest.slice(colon + 1).slice(0, 64);
  return `${algorithm}-${encoded}`.replace(/[^a-zA-Z0-9._-]/g, '-');
}
