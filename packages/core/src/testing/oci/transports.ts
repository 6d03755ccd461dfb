/** Transports for the conformance client: in process (`registry.fetch`) and over a real socket. */
import { request as httpRequest } from 'node:http';
import type { Registry } from '../../registry.js';
import type { Transport, WireRequest, WireResponse } from './goclient.js';

/** The origin `registry.fetch` resolves relative URLs against. */
export const IN_PROCESS_ORIGIN = 'http://registry.local';

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

async function readWeb(response: Response): Promise<WireResponse> {
  return {
    status: response.status,
    headers: response.headers,
    body: new Uint8Array(await response.arrayBuffer()),
  };
}

/** `RequestInit` plus `duplex`, which streamed request bodies require. */
type StreamingInit = RequestInit & { duplex?: 'half' };

/** Sends with global fetch (undici); framing as Go would put it on the wire. */
async function viaFetch(request: WireRequest, extraHeaders: Record<string, string>): Promise<WireResponse> {
  const headers = new Headers(request.headers.map(([name, value]) => [name, value]));
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  const init: StreamingInit = { method: request.method, headers, redirect: 'manual' };
  if (request.framing === 'chunked') {
    init.body = streamOf(request.body!); // unknown length: undici sends it chunked
    init.duplex = 'half';
  } else if (request.framing === 'zero-length') {
    init.body = new Uint8Array(0); // Content-Length: 0, as Go sends for a body-less POST/PUT/PATCH
  }
  return readWeb(await fetch(request.url, init));
}

/**
 * Over a socket with node:http, for the one thing fetch refuses: a GET (or HEAD) with a body,
 * which Go sends chunked.
 */
function viaNodeHttp(request: WireRequest): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = Object.fromEntries(request.headers);
    headers['Transfer-Encoding'] = 'chunked';
    const req = httpRequest(request.url, { method: request.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const out = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        resolve({ status: res.statusCode ?? 0, headers: out, body: new Uint8Array(Buffer.concat(chunks)) });
      });
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

/**
 * Talks to a registry over HTTP. Differences from Go that fetch imposes: undici adds
 * `Accept: *\/*` (Go sends no Accept) and `Accept-Language`/`Sec-Fetch-Mode`; `Accept-Encoding`
 * is pinned to `identity` since Go (with compression disabled) asks for no encoding.
 */
export function socketTransport(): Transport {
  return (request) => {
    const bodyless = request.method === 'GET' || request.method === 'HEAD';
    if (bodyless && request.framing === 'chunked') return viaNodeHttp(request);
    return viaFetch(request, { 'Accept-Encoding': 'identity' });
  };
}

/**
 * Talks to `registry` in process through `registry.fetch`, with the headers Go's framing puts on
 * the wire (`Transfer-Encoding: chunked` or `Content-Length: 0`). A GET with a body, which a web
 * `Request` cannot carry, goes to `registry.handle`. Redirects to other origins (presigned URLs)
 * are fetched for real.
 */
export function inProcessTransport(registry: Registry): Transport {
  return async (request) => {
    const url = new URL(request.url);
    if (url.origin !== IN_PROCESS_ORIGIN) return viaFetch(request, {});
    const headers = new Headers(request.headers.map(([name, value]) => [name, value]));
    if (request.framing === 'chunked') headers.set('Transfer-Encoding', 'chunked');
    if (request.framing === 'zero-length') headers.set('Content-Length', '0');
    const bodyless = request.method === 'GET' || request.method === 'HEAD';
    if (bodyless && request.framing === 'chunked') {
      const bytes = request.body!;
      const response = await registry.handle({
        method: request.method,
        url: url.pathname + url.search,
        headers,
        body: (async function* () {
          yield bytes;
        })(),
      });
      const out = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
      }
      const chunks: Uint8Array[] = [];
      if (response.body instanceof Uint8Array) chunks.push(response.body);
      else if (response.body) for await (const chunk of response.body) chunks.push(chunk);
      return { status: response.status, headers: out, body: new Uint8Array(Buffer.concat(chunks)) };
    }
    const init: StreamingInit = { method: request.method, headers, redirect: 'manual' };
    if (request.framing === 'chunked') {
      init.body = streamOf(request.body!);
      init.duplex = 'half';
    }
    return readWeb(await registry.fetch(request.url, init));
  };
}
