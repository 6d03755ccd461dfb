import type { RegistryRequest, RegistryResponse } from './types.js';

/**
 * Converts a web `Request` into a {@link RegistryRequest} (the `Request` becomes its `context`), for
 * hosts that answer web requests through `registry.handle` with their own steps around it.
 */
export function fromWebRequest(request: Request): RegistryRequest {
  const url = new URL(request.url);
  const body = request.body as (ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>) | null;
  return {
    method: request.method.toUpperCase(),
    url: url.pathname + url.search,
    headers: request.headers,
    body,
    signal: request.signal,
    context: request,
  };
}

/** Converts a {@link RegistryResponse} into a web `Response`, streaming its body. */
export function toWebResponse(response: RegistryResponse): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const nullBody = response.status === 204 || response.status === 304 || response.body == null;
  return new Response(nullBody ? null : toReadableStream(response.body!), {
    status: response.status,
    headers,
  });
}

function toReadableStream(
  body: Uint8Array | AsyncIterable<Uint8Array>,
): ReadableStream<Uint8Array> | Uint8Array {
  if (body instanceof Uint8Array) return body;
  const iterator = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
