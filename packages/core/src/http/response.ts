import { type RegistryError, toRegistryError } from '../errors.js';
import type { RegistryResponse } from './types.js';

/** Headers every response carries. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'Docker-Distribution-API-Version': 'registry/2.0',
};

/** A JSON response with its `Content-Length` (for route middleware that answers by itself). */
export function jsonResponse(
  status: number,
  value: unknown,
  headers: Record<string, string | string[]> = {},
): RegistryResponse {
  const body = Buffer.from(JSON.stringify(value));
  return {
    status,
    headers: { 'Content-Type': 'application/json', ...headers, 'Content-Length': String(body.byteLength) },
    body,
  };
}

/** A response without a body. */
export function emptyResponse(
  status: number,
  headers: Record<string, string | string[]> = {},
): RegistryResponse {
  return { status, headers: { ...headers, 'Content-Length': '0' }, body: null };
}

/** The spec's JSON error body for any thrown value. */
export function errorResponse(error: unknown): { response: RegistryResponse; error: RegistryError } {
  const registryError = toRegistryError(error);
  return {
    response: jsonResponse(registryError.status, registryError.toJSON(), registryError.headers),
    error: registryError,
  };
}

/** `Link: <url>; rel="next"` for a paginated listing. */
export function nextLink(path: string, params: Record<string, string | number>): string {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  return `<${path}?${query.toString()}>; rel="next"`;
}
