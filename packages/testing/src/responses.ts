import { collectBytes, jsonResponse, type RegistryResponse } from '@wharf/core';

/** A JSON body in the spec's error format, with any code (registries use codes beyond the spec's). */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  options: { detail?: unknown; headers?: Record<string, string> } = {},
): RegistryResponse {
  const error: Record<string, unknown> = { code, message };
  if (options.detail !== undefined) error.detail = options.detail;
  return jsonResponse(status, { errors: [error] }, options.headers);
}

/** A plain-text response (what Go's `http.NotFound` sends). */
export function textResponse(
  status: number,
  text: string,
  headers: Record<string, string> = {},
): RegistryResponse {
  const body = Buffer.from(text);
  return {
    status,
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
      'Content-Length': String(body.byteLength),
    },
    body,
  };
}

/** Reads a response or request body to the end. */
export async function readAll(body: RegistryResponse['body']): Promise<Buffer> {
  if (body == null) return Buffer.alloc(0);
  if (body instanceof Uint8Array) return Buffer.from(body);
  return collectBytes(body);
}

/** An async iterable over one buffer. */
export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Looks a header up in a response's header record, whatever its case. */
export function headerOf(response: RegistryResponse, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(response.headers)) {
    if (key.toLowerCase() === lower) return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

/** Sets a header, replacing any spelling of it. */
export function setHeader(response: RegistryResponse, name: string, value: string | undefined): void {
  const lower = name.toLowerCase();
  for (const key of Object.keys(response.headers))
    if (key.toLowerCase() === lower) delete response.headers[key];
  if (value !== undefined) response.headers[name] = value;
}
