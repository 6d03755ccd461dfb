/** Read access to request headers; web `Headers` satisfies it. Names are case-insensitive. */
export interface HeaderLookup {
  get(name: string): string | null | undefined;
}

/** A request as core sees it: framework-free, with a streamed body. */
export interface RegistryRequest {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path and query, e.g. `/v2/library/alpine/manifests/latest`. */
  readonly url: string;
  readonly headers: HeaderLookup;
  /** The request body, streamed; `null` when there is none. */
  readonly body: AsyncIterable<Uint8Array> | null;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal;
  /**
   * The request id for logs and the `X-Request-Id` response header. Default: the request's own
   * `X-Request-Id` when it is a short printable token, else a generated UUID.
   */
  readonly id?: string;
  /** The client's address (and port) as the adapter saw it, for events and logs. */
  readonly remoteAddress?: string;
  /**
   * Whatever the host attached (an adapter passes its native request), handed to the
   * `authorize` hook untouched.
   */
  readonly context?: unknown;
}

/** A response as core produces it. `body` is omitted for HEAD and empty responses. */
export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body?: Uint8Array | AsyncIterable<Uint8Array> | null;
}
