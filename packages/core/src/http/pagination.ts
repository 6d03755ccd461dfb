import { RegistryError } from '../errors.js';

/** A parsed `n` / `last` pair. */
export interface PageRequest {
  /** Items to return (clamped to the page size). */
  readonly limit: number;
  /** Return items strictly after this one. */
  readonly last?: string;
}

/**
 * Reads `n` and `last`. A missing `n` or one above `pageSize` is clamped to `pageSize`: the caller
 * then adds a `Link` header when more items remain, which the spec allows.
 */
export function parsePage(query: URLSearchParams, pageSize: number): PageRequest {
  const n = query.get('n');
  const last = query.get('last');
  let limit = pageSize;
  if (n !== null && n !== '') {
    if (!/^\d{1,9}$/.test(n)) {
      throw new RegistryError('UNSUPPORTED', {
        status: 400,
        message: 'invalid pagination parameter n',
        detail: { n },
      });
    }
    limit = Math.min(Number(n), pageSize);
  }
  return { limit, ...(last !== null && last !== '' ? { last } : {}) };
}
