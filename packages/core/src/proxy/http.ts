import { type Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { type Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { UpstreamError } from './errors.js';

/** One outgoing request. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly agent?: HttpAgent | HttpsAgent;
  /** Until the response headers arrive (milliseconds). */
  readonly timeout: number;
  /** Longest silence on the socket once the response started (milliseconds). */
  readonly idle: number;
  /** The upstream's namespace, for errors. */
  readonly upstream: string;
}

/** Maps a socket-level failure (refused, reset, DNS, TLS) to an {@link UpstreamError}. */
export function networkError(upstream: string, error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : ((error as Error | null)?.message ?? String(error));
  return new UpstreamError(upstream, 'unreachable', `unreachable (${detail})`, { cause: error });
}

/** Failures of a kept-alive connection the server closed meanwhile (retried once on a new one). */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/**
 * Connections that carried an answer before. (`request.reusedSocket` misses requests that waited
 * for a connection in the agent's queue.)
 */
const answered = new WeakSet<object>();

/**
 * Sends a request with no body and resolves the response once its headers arrived. The response
 * is a stream the caller must consume or destroy; a body that stalls longer than `idle` is
 * destroyed with a `timeout` {@link UpstreamError}. A request that fails on a reused connection
 * before any answer (the server closed it while idle) is sent again once: requests here are
 * idempotent.
 */
export function send(outgoing: OutgoingRequest, retried = false): Promise<IncomingMessage> {
  const { url, upstream } = outgoing;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: outgoing.method,
      headers: outgoing.headers,
      ...(outgoing.agent ? { agent: outgoing.agent } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy(new UpstreamError(upstream, 'timeout', `no answer within ${outgoing.timeout} ms`));
    }, outgoing.timeout);
    req.once('error', (error) => {
      clearTimeout(timer);
      const code = (error as { code?: unknown }).code;
      const reused = req.reusedSocket || (req.socket !== null && answered.has(req.socket));
      if (!retried && reused && STALE_CONNECTION.has(String(code))) {
        resolve(send(outgoing, true));
        return;
      }
      reject(networkError(upstream, error));
    });
    req.once('response', (res) => {
      clearTimeout(timer);
      answered.add(res.socket);
      res.setTimeout(outgoing.idle, () => {
        res.destroy(new UpstreamError(upstream, 'timeout', `the body stalled for ${outgoing.idle} ms`));
      });
      resolve(res);
    });
    req.end();
  });
}

/**
 * Reads a small body completely, refusing more than `limit` bytes and less than its declared
 * `Content-Length`. Stopping early lets go of the source (which closes its connection).
 */
export async function readSmall(
  source: AsyncIterable<Uint8Array>,
  declaredLength: string | string[] | undefined,
  limit: number,
  upstream: string,
): Promise<Buffer> {
  const declared = Number(declaredLength ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await source[Symbol.asyncIterator]().return?.();
    throw new UpstreamError(upstream, 'invalid', `response of ${declared} bytes exceeds ${limit}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.byteLength;
      if (size > limit) throw new UpstreamError(upstream, 'invalid', `response exceeds ${limit} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    throw bodyError(upstream, error);
  }
  if (Number.isFinite(declared) && declared !== size) {
    throw new UpstreamError(upstream, 'invalid', `truncated response: ${size} of ${declared} bytes`);
  }
  return Buffer.concat(chunks, size);
}

/** A failure while a body streams: a stall stays a timeout, anything else is a truncated body. */
export function bodyError(upstream: string, error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  return new UpstreamError(
    upstream,
    'invalid',
    `the body was cut short (${(error as Error)?.message ?? error})`,
    {
      cause: error,
    },
  );
}

/** Discards a response body so its connection can be reused. */
export function discard(res: IncomingMessage): void {
  res.resume();
  res.once('error', () => {});
}
