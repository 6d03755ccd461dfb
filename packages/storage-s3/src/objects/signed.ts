import { createHash } from 'node:crypto';
import { S3RequestError } from './errors.js';
import { EMPTY_SHA256, encodeKey, type SigningCredentials, SigV4Signer } from './sigv4.js';
import type { ObjectBody } from './types.js';

/** An HTTP response as the AWS SDK's request handler resolves it. */
interface HandlerResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
}

/** The request handler of an AWS SDK v3 client (`NodeHttpHandler` by default). */
interface RequestHandler {
  handle(
    request: {
      readonly method: string;
      readonly protocol: string;
      readonly hostname: string;
      readonly port?: number | undefined;
      readonly path: string;
      readonly query: Readonly<Record<string, string>>;
      readonly headers: Readonly<Record<string, string>>;
      readonly body?: Uint8Array | undefined;
    },
    options?: { readonly abortSignal?: AbortSignal | undefined },
  ): Promise<{ readonly response: HandlerResponse }>;
}

/** An endpoint as the SDK's endpoint rules resolve it. */
interface ResolvedEndpoint {
  readonly url: URL;
  readonly properties?: {
    readonly authSchemes?: ReadonlyArray<{ readonly name?: string; readonly signingRegion?: string }>;
  };
}

/**
 * What the signed path reads from an AWS SDK v3 client's resolved `config`. Every field is checked
 * at run time: a client without one of them (an unusual release, custom wiring) keeps using the
 * SDK for everything.
 */
interface AwsClientConfig {
  readonly credentials?: unknown;
  readonly region?: unknown;
  readonly endpoint?: unknown;
  readonly endpointProvider?: unknown;
  readonly forcePathStyle?: unknown;
  readonly useFipsEndpoint?: unknown;
  readonly useDualstackEndpoint?: unknown;
  readonly useAccelerateEndpoint?: unknown;
  readonly requestHandler?: unknown;
}

/** Calls a config provider (`() => Promise<T>`) or returns a plain value. */
async function provided(value: unknown): Promise<unknown> {
  return typeof value === 'function' ? (value as () => Promise<unknown>)() : value;
}

function isCredentials(value: unknown): value is SigningCredentials {
  const c = value as Partial<SigningCredentials> | null;
  return typeof c?.accessKeyId === 'string' && typeof c.secretAccessKey === 'string';
}

/** Network failures worth one more try (a kept-alive socket the server closed, a reset). */
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN']);
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const ATTEMPTS = 3;

function retryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_CODES.has(code);
}

/** Reads a small (error) body to text and releases its connection. */
async function readText(body: unknown): Promise<string> {
  if (!body || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') return '';
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Releases a response body nobody reads. */
function discard(body: unknown): void {
  const stream = body as { resume?: () => void } | undefined;
  stream?.resume?.();
}

/** A request through {@link SignedRequests.send}. */
export interface SignedRequest {
  readonly method: 'HEAD' | 'GET' | 'PUT' | 'DELETE';
  readonly key: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** Statuses that are answers, not failures (2xx always are). */
  readonly expect?: readonly number[];
  readonly signal?: AbortSignal | undefined;
}

/** A response of {@link SignedRequests.send}. */
export interface SignedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body, for GETs that succeeded; already released otherwise. */
  readonly body: ObjectBody | undefined;
}

/**
 * Plain signed S3 requests for the hot path (HEAD, GET, small PUTs, DELETE), sent through the AWS
 * SDK client's own request handler (so its agents, TLS settings and proxies apply) but without the
 * SDK's middleware stack, which costs about a millisecond of CPU per request: more than the rest
 * of a HEAD. The endpoint comes from the client's endpoint rules, the credentials from its
 * provider (refreshed as the SDK refreshes them).
 */
export class SignedRequests {
  readonly #handler: RequestHandler;
  readonly #credentials: () => Promise<unknown>;
  readonly #url: URL;
  readonly #signer: SigV4Signer;

  private constructor(
    handler: RequestHandler,
    credentials: () => Promise<unknown>,
    url: URL,
    region: string,
  ) {
    this.#handler = handler;
    this.#credentials = credentials;
    this.#url = url;
    this.#signer = new SigV4Signer(region);
  }

  /**
   * The signed path for `bucket` on an AWS SDK client, or `null` when the client's configuration
   * asks for something this path does not do (another signing scheme, a missing provider).
   */
  static async forClient(config: AwsClientConfig, bucket: string): Promise<SignedRequests | null> {
    const { requestHandler, credentials, endpointProvider } = config;
    if (typeof (requestHandler as Partial<RequestHandler> | undefined)?.handle !== 'function') return null;
    if (typeof credentials !== 'function' || typeof endpointProvider !== 'function') return null;
    const region = await provided(config.region);
    if (typeof region !== 'string' || !region) return null;
    const custom = (await provided(config.endpoint)) as
      | { protocol?: string; hostname?: string; port?: number; path?: string }
      | undefined;
    const endpoint =
      custom?.hostname && custom.protocol
        ? `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path ?? ''}`
        : undefined;
    const resolved = (endpointProvider as (params: Record<string, unknown>) => ResolvedEndpoint)({
      Bucket: bucket,
      Region: region,
      UseFIPS: (await provided(config.useFipsEndpoint)) === true,
      UseDualStack: (await provided(config.useDualstackEndpoint)) === true,
      ForcePathStyle: config.forcePathStyle === true,
      Accelerate: config.useAccelerateEndpoint === true,
      ...(endpoint ? { Endpoint: endpoint } : {}),
    });
    const scheme = resolved.properties?.authSchemes?.[0];
    if (scheme && scheme.name !== 'sigv4') return null;
    const url = new URL(resolved.url.toString());
    return new SignedRequests(
      requestHandler as RequestHandler,
      credentials as () => Promise<unknown>,
      url,
      scheme?.signingRegion ?? region,
    );
  }

  async send(request: SignedRequest): Promise<SignedResponse> {
    const base = this.#url.pathname.endsWith('/') ? this.#url.pathname : `${this.#url.pathname}/`;
    const path = `${base}${encodeKey(request.key)}`;
    const body = request.body;
    const payloadHash = body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
    const extra: Record<string, string> = { ...request.headers };
    if (body) extra['content-length'] = String(body.byteLength);
    for (let attempt = 1; ; attempt++) {
      const credentials = await this.#credentials();
      if (!isCredentials(credentials)) throw new Error('the S3 client provided no usable credentials');
      const headers = this.#signer.sign(
        { method: request.method, host: this.#url.host, path, headers: extra, payloadHash },
        credentials,
      );
      let response: HandlerResponse;
      try {
        ({ response } = await this.#handler.handle(
          {
            method: request.method,
            protocol: this.#url.protocol,
            hostname: this.#url.hostname,
            ...(this.#url.port ? { port: Number(this.#url.port) } : {}),
            path,
            query: {},
            headers,
            ...(body ? { body } : {}),
          },
          { abortSignal: request.signal },
        ));
      } catch (error) {
        if (attempt < ATTEMPTS && retryable(error) && !request.signal?.aborted) {
          await backoff(attempt);
          continue;
        }
        throw error;
      }
      const status = response.statusCode;
      if ((status >= 200 && status < 300) || request.expect?.includes(status)) {
        const ok = request.method === 'GET' && status >= 200 && status < 300;
        if (!ok) discard(response.body);
        return { status, headers: response.headers, body: ok ? (response.body as ObjectBody) : undefined };
      }
      const text = await readText(response.body).catch(() => '');
      if (attempt < ATTEMPTS && RETRYABLE_STATUSES.has(status) && !request.signal?.aborted) {
        await backoff(attempt);
        continue;
      }
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? '';
      throw new S3RequestError(
        status,
        code,
        `S3 ${request.method} ${request.key} answered ${status} ${code}`,
      );
    }
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, (25 + Math.random() * 25) * 2 ** attempt));
}
