import { Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { pullScope, UpstreamAuth } from './auth.js';
import type { UpstreamConfig } from './config.js';
import { UpstreamError } from './errors.js';
import { bodyError, discard, send } from './http.js';
import { Limiter } from './limiter.js';
import type { UpstreamRequestEvent } from './types.js';

/** A request to an upstream registry. */
export interface UpstreamRequest {
  readonly method: 'GET' | 'HEAD';
  /** Path and query, percent-encoded, relative to the upstream's base URL (`/v2/…`). */
  readonly path: string;
  /** The upstream repository (the scope of its token). */
  readonly remote: string;
  readonly kind: UpstreamRequestEvent['kind'];
  readonly accept?: string;
  /** Overrides the upstream's request timeout (milliseconds). */
  readonly timeout?: number;
}

/** A successful (2xx) upstream response. Its body must be read to the end or disposed. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: UpstreamBody;
}

/** Longest wait a `Retry-After` can impose on this process (seconds). */
const RETRY_AFTER_CAP = 15 * 60;
const MAX_REDIRECTS = 5;
/** A disposed body at most this large is read to its end rather than closing the connection. */
const DRAIN_MAX = 64 * 1024;

/** Seconds a `Retry-After` (delta-seconds or HTTP-date) asks for, capped. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  const seconds = /^\d+$/.test(trimmed) ? Number(trimmed) : (Date.parse(trimmed) - now) / 1000;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(seconds, 0), RETRY_AFTER_CAP);
}

/**
 * An upstream response body: iterating it streams the bytes; it gives its connection slot back and
 * reports the request once it ends, fails or is disposed. A failure mid-body is an
 * {@link UpstreamError} (`invalid` for a cut-short body, `timeout` for a stall).
 */
export class UpstreamBody implements AsyncIterable<Uint8Array> {
  readonly #res: IncomingMessage;
  readonly #upstream: string;
  readonly #finish: (error: string | undefined, bytes: number) => void;
  readonly #drainable: boolean;
  #bytes = 0;
  #done = false;

  /** `drainable`: the rest is small (a HEAD's empty body), so disposing reads it to keep the connection. */
  constructor(
    res: IncomingMessage,
    upstream: string,
    drainable: boolean,
    finish: (error: string | undefined, bytes: number) => void,
  ) {
    this.#res = res;
    this.#upstream = upstream;
    this.#drainable = drainable;
    this.#finish = finish;
    // A connection that closes before anyone reads still gives its slot back.
    res.once('close', () => {
      if (!res.complete) this.#end('invalid');
    });
  }

  #end(error: string | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#finish(error, this.#bytes);
  }

  /** Drops the body: a small one is read to its end so the connection is reused, a large one closed. */
  dispose(): void {
    if (this.#done) return;
    const res = this.#res;
    if (res.complete || this.#drainable) {
      discard(res);
      if (res.complete) this.#end(undefined);
      else res.once('end', () => this.#end(undefined));
    } else {
      res.destroy();
      this.#end('abandoned');
    }
  }

  /**
   * Hands every chunk to `onChunk` as it arrives, in flowing mode: cheaper for a large body than
   * iterating (no promise, no buffering and no concatenation per chunk). A promise `onChunk`
   * returns pauses the body until it settles (backpressure). Resolves at the end; rejects like
   * iterating (an {@link UpstreamError}), or with the error `onChunk` threw or rejected with, after
   * disposing of the body.
   */
  consume(onChunk: (chunk: Uint8Array) => Promise<void> | undefined): Promise<void> {
    const res = this.#res;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const stop = (): boolean => {
        if (settled) return false;
        settled = true;
        res.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
        return true;
      };
      const refuse = (error: unknown): void => {
        if (!stop()) return;
        this.dispose();
        reject(error);
      };
      const onError = (error: unknown): void => {
        if (!stop()) return;
        const failure = bodyError(this.#upstream, error);
        this.#end(failure.kind);
        reject(failure);
      };
      const onData = (chunk: Buffer): void => {
        if (settled) return;
        this.#bytes += chunk.byteLength;
        let wait: Promise<void> | undefined;
        try {
          wait = onChunk(chunk);
        } catch (error) {
          refuse(error);
          return;
        }
        if (!wait) return;
        res.pause();
        wait.then(() => {
          if (!settled) res.resume();
        }, refuse);
      };
      const onEnd = (): void => {
        if (!stop()) return;
        this.#end(undefined);
        resolve();
      };
      // Closed before its end without an error event: cut short all the same.
      const onClose = (): void => {
        if (!res.complete) onError(new Error('the connection closed before the end of the body'));
      };
      if (this.#done) {
        reject(new UpstreamError(this.#upstream, 'invalid', 'the body was already consumed'));
        return;
      }
      res.on('data', onData).once('end', onEnd).on('error', onError).once('close', onClose);
      if (res.destroyed) onClose();
    });
  }

  // A hand-written iterator rather than a generator: a generator's `finally` never runs when the
  // consumer lets go before its first `next()`, which would keep the connection slot.
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const source = (this.#res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    return {
      next: async () => {
        try {
          const result = await source.next();
          if (result.done) this.#end(undefined);
          else this.#bytes += result.value.byteLength;
          return result;
        } catch (error) {
          const failure = bodyError(this.#upstream, error);
          this.#end(failure.kind);
          throw failure;
        }
      },
      return: async () => {
        if (!this.#done) this.dispose();
        return { done: true, value: undefined };
      },
    };
  }
}

/**
 * Requests to one upstream registry: authentication (see {@link UpstreamAuth}), a concurrency
 * limit, redirects (blob downloads often go to a CDN; credentials never follow to another origin),
 * and `Retry-After`: after a 429 no request is sent before the time it named, so the upstream sees
 * one refusal and this process fails fast meanwhile.
 */
export class UpstreamClient {
  readonly config: UpstreamConfig;
  readonly #auth: UpstreamAuth;
  readonly #limiter: Limiter;
  readonly #report: (event: UpstreamRequestEvent) => void;
  readonly #agents: { readonly http: HttpAgent; readonly https: HttpsAgent };
  #blockedUntil = 0;

  constructor(config: UpstreamConfig, report: (event: UpstreamRequestEvent) => void) {
    this.config = config;
    this.#report = report;
    this.#auth = new UpstreamAuth(config, report);
    this.#limiter = new Limiter(config.maxConcurrency);
    const agentOptions = { keepAlive: true, maxSockets: config.maxConcurrency };
    this.#agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  }

  /** Requests in flight (bodies still streaming included). */
  get active(): number {
    return this.#limiter.active;
  }

  #rateLimited(): UpstreamError | undefined {
    const wait = (this.#blockedUntil - Date.now()) / 1000;
    if (wait <= 0) return undefined;
    return new UpstreamError(
      this.config.namespace,
      'rate-limited',
      `rate limited for another ${Math.ceil(wait)} s`,
      {
        status: 429,
        retryAfter: wait,
      },
    );
  }

  /**
   * Sends a request; resolves a 2xx response, or throws an {@link UpstreamError} for anything
   * else (the body of an error response is discarded).
   */
  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const limited = this.#rateLimited();
    if (limited) throw limited;
    const release = await this.#limiter.acquire();
    const started = process.hrtime.bigint();
    let reported = false;
    const finish = (status: number | undefined, error: string | undefined, bytes: number): void => {
      if (reported) return;
      reported = true;
      release();
      this.#report({
        upstream: this.config.namespace,
        method: request.method,
        kind: request.kind,
        status,
        error,
        bytes,
        durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    };
    let res: IncomingMessage;
    try {
      res = await this.#exchange(request);
    } catch (error) {
      finish(
        error instanceof UpstreamError ? error.status : undefined,
        (error as UpstreamError).kind ?? 'unreachable',
        0,
      );
      throw error;
    }
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      const length = Number(res.headers['content-length']);
      const drainable = request.method === 'HEAD' || (Number.isFinite(length) && length <= DRAIN_MAX);
      const body = new UpstreamBody(res, this.config.namespace, drainable, (error, bytes) =>
        finish(status, error, bytes),
      );
      return { status, headers: res.headers, body };
    }
    discard(res);
    const error = this.#failure(res, request);
    finish(status, error.kind, 0);
    throw error;
  }

  /** The upstream's answer after authentication and redirects. */
  async #exchange(request: UpstreamRequest): Promise<IncomingMessage> {
    const { config } = this;
    const scope = pullScope(request.remote);
    let url = new URL(`${config.url.origin}${config.url.pathname.replace(/\/+$/, '')}${request.path}`);
    let authorization = await this.#auth.current(scope);
    let answered = false;
    for (let redirects = 0; ; ) {
      const sameOrigin = url.origin === config.url.origin;
      const res = await send({
        method: request.method,
        url,
        headers: {
          'User-Agent': 'wharf',
          ...(request.accept ? { Accept: request.accept } : {}),
          ...(authorization && sameOrigin ? { Authorization: authorization } : {}),
        },
        agent: url.protocol === 'https:' ? this.#agents.https : this.#agents.http,
        timeout: request.timeout ?? config.timeouts.request,
        idle: config.timeouts.idle,
        upstream: config.namespace,
      });
      const status = res.statusCode ?? 0;
      if (status === 401 && sameOrigin && !answered) {
        answered = true;
        discard(res);
        const next = await this.#auth.answer(headerOf(res.headers['www-authenticate']), scope);
        if (next === undefined) return res;
        authorization = next;
        continue;
      }
      const location = headerOf(res.headers.location);
      if ([301, 302, 303, 307, 308].includes(status) && location && redirects < MAX_REDIRECTS) {
        discard(res);
        redirects++;
        url = new URL(location, url);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') {
          throw new UpstreamError(config.namespace, 'status', 'redirected to a non-HTTP URL', { status });
        }
        continue;
      }
      return res;
    }
  }

  /** The error for a non-2xx answer; a 429 also starts the wait its `Retry-After` asks for. */
  #failure(res: IncomingMessage, request: UpstreamRequest): UpstreamError {
    const { namespace } = this.config;
    const status = res.statusCode ?? 0;
    const what = `${request.method} ${request.path.split('?')[0]}`;
    if (status === 429) {
      const retryAfter = parseRetryAfter(headerOf(res.headers['retry-after']));
      if (retryAfter !== undefined)
        this.#blockedUntil = Math.max(this.#blockedUntil, Date.now() + retryAfter * 1000);
      return new UpstreamError(namespace, 'rate-limited', `rate limited (429) on ${what}`, {
        status,
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
    }
    if (status === 404) return new UpstreamError(namespace, 'not-found', `${what}: not found`, { status });
    if (status === 401 || status === 403) {
      return new UpstreamError(namespace, 'denied', `refused ${what} (${status})`, { status });
    }
    return new UpstreamError(namespace, 'status', `answered ${status} to ${what}`, { status });
  }
}

function headerOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
