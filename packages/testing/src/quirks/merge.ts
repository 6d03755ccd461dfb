import type { Quirks } from './types.js';

/** Keys whose values are objects merged field by field; everything else is replaced. */
const NESTED = ['features', 'limits', 'tags', 'catalog'] as const;

/**
 * Combines quirk sets, later ones overriding earlier ones: `features`, `limits`, `tags` and
 * `catalog` are merged field by field, every other key is replaced (`null` removes `auth`,
 * `blobRedirect` or `pullRateLimit`). Profile names and sources are not part of the result.
 *
 * @example
 * ```ts
 * // GHCR, but with the referrers API a future release might add.
 * const quirks = mergeQuirks(profiles.ghcr, { referrers: 'supported' });
 * ```
 */
export function mergeQuirks(...parts: ReadonlyArray<Quirks | undefined>): Quirks {
  const merged: Record<string, unknown> = {};
  for (const part of parts) {
    if (!part) continue;
    for (const [key, value] of Object.entries(part)) {
      if (key === 'name' || key === 'title' || key === 'description' || key === 'sources') continue;
      if (value === undefined) continue;
      merged[key] =
        (NESTED as readonly string[]).includes(key) && merged[key] && value
          ? { ...(merged[key] as object), ...(value as object) }
          : value;
    }
  }
  return merged as Quirks;
}
