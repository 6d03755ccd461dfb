/**
 * A TypeScript stand-in for the conformance suite's HTTP client (`bloodorangeio/reggie` on resty v2
 * and Go `net/http`), reproducing what reaches the registry: URL building and validation, query
 * encoding, headers, body framing, `Location` handling and redirects.
 */
import { ERROR_RESPONSE, type GoErrorInfo, goUnmarshal } from './gojson.js';

/**
 * How a request body goes on the wire. Go cannot tell the length of the suite's bodies
 * (`io.NopCloser(bytes.NewReader(b))`), so non-empty bodies are chunked and a `Content-Length`
 * header set by a test never reaches the wire; a POST/PUT/PATCH without a body carries
 * `Content-Length: 0`.
 */
export type Framing = 'chunked' | 'zero-length' | 'none';

/** One request as it goes on the wire. */
export interface WireRequest {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly framing: Framing;
  /** The bytes of a chunked body. */
  readonly body: Uint8Array | null;
}

/** One response, body read in full (as resty does). */
export interface WireResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** Sends one request (no redirect following: the client does that, as Go's `http.Client` does). */
export type Transport = (request: WireRequest) => Promise<WireResponse>;

/** Path placeholders of reggie's `NewRequest` options. */
export interface RequestOptions {
  readonly name?: string;
  readonly reference?: string;
  readonly digest?: string;
  readonly sessionId?: string;
}

const METHODS_WITH_LENGTH = new Set(['POST', 'PUT', 'PATCH']);
/** Go's `requestMethodUsuallyLacksBody`. */
const USUALLY_BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'PROPFIND', 'SEARCH']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** resty's `IsJSONType`. */
const JSON_TYPE = /(application|text)\/(json|.*\+json|json-.*)(;|$)/i;
/** reggie's `validateRequest`: a leftover placeholder or three slashes in a row. */
const INVALID_URL = /<name>|<reference>|<digest>|<session_id>|\/\/{2,}/;

/** Go's `url.QueryEscape`. */
function queryEscape(value: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(value)) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(char)) out += char;
    else if (char === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's `url.Values.Encode`: keys sorted. */
function encodeQuery(params: ReadonlyMap<string, string>): string {
  return [...params.keys()]
    .sort()
    .map((key) => `${queryEscape(key)}=${queryEscape(params.get(key)!)}`)
    .join('&');
}

/** Go's path unescaping (`%XX` only; `+` stays); `undefined` on a malformed escape. */
function pathUnescape(path: string): string | undefined {
  if (!path.includes('%')) return path;
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...new TextEncoder().encode(char));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * The parts of Go's `url.Parse(raw)` the suite uses: the decoded path and the raw query, or
 * `undefined` where Go returns an error.
 */
export function goParseUrl(raw: string): { path: string; rawQuery: string } | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Go rejects control characters.
  if (/[\u0000-\u001f\u007f]/.test(raw)) return undefined;
  let rest = raw;
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  if (rest.startsWith(':')) return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  let rawQuery = '';
  const question = rest.indexOf('?');
  if (question >= 0) {
    rawQuery = rest.slice(question + 1);
    rest = rest.slice(0, question);
  }
  if (scheme && !rest.startsWith('/')) return { path: '', rawQuery };
  if (rest.startsWith('//') && (scheme || !rest.startsWith('///'))) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    const host = authority.slice(authority.lastIndexOf('@') + 1);
    const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(host)?.[1];
    if (port !== undefined && !/^\d*$/.test(port)) return undefined;
    rest = slash < 0 ? '' : rest.slice(slash);
  } else if (!scheme && /^[^/]*:/.test(rest)) {
    return undefined; // "first path segment in URL cannot contain colon"
  }
  const path = pathUnescape(rest);
  return path === undefined ? undefined : { path, rawQuery };
}

/** A request being built, like reggie's `*Request`. */
export class GoRequest {
  readonly headers = new Map<string, string>();
  readonly query = new Map<string, string>();
  body: Uint8Array | null = null;

  constructor(
    readonly method: string,
    readonly url: string,
  ) {}

  setHeader(name: string, value: string): this {
    this.headers.set(canonicalHeader(name), value);
    return this;
  }

  setQueryParam(name: string, value: string): this {
    this.query.set(name, value);
    return this;
  }

  setBody(body: Uint8Array): this {
    this.body = body;
    return this;
  }
}

/** Go's `textproto.CanonicalMIMEHeaderKey`. */
function canonicalHeader(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** A response, like reggie's `*Response`. */
export class GoResponse {
  constructor(
    readonly request: { readonly method: string; readonly url: string },
    private readonly wire: WireResponse,
  ) {}

  statusCode(): number {
    return this.wire.status;
  }

  /** `resp.Header().Get(name)`: the value, or `""`. */
  header(name: string): string {
    return this.wire.headers.get(name) ?? '';
  }

  body(): Uint8Array {
    return this.wire.body;
  }

  /** resty's `String()`: the body as text, trimmed. */
  string(): string {
    return new TextDecoder().decode(this.wire.body).trim();
  }

  /** Path and query of `Location` (scheme and host dropped, path percent-decoded), or `""`. */
  getRelativeLocation(): string {
    const parsed = goParseUrl(this.header('Location'));
    if (!parsed) return '';
    return parsed.rawQuery === '' ? parsed.path : `${parsed.path}?${parsed.rawQuery}`;
  }

  /** `Location` verbatim if it parses, else `""`. */
  getAbsoluteLocation(): string {
    const location = this.header('Location');
    return goParseUrl(location) ? location : '';
  }

  /** reggie's `Errors()`: fails on invalid JSON and on an empty `errors` array. */
  errors(): { errors: GoErrorInfo[]; error: string | undefined } {
    const decoded = goUnmarshal<{ errors: GoErrorInfo[] | null }>(this.string(), ERROR_RESPONSE);
    if (decoded.error) return { errors: [], error: decoded.error };
    const errors = decoded.value.errors ?? [];
    if (errors.length === 0) return { errors, error: 'body was valid json but could not be parsed' };
    return { errors, error: undefined };
  }

  /** A readable account of the exchange, for assertion messages. */
  describe(): string {
    const headers = [...this.wire.headers].map(([k, v]) => `${k}: ${v}`).join('; ');
    const text = new TextDecoder().decode(this.wire.body.subarray(0, 600));
    return `${this.request.method} ${this.request.url} -> ${this.wire.status} [${headers}] ${JSON.stringify(text)}`;
  }
}

/** The reggie client: `OCI_ROOT_URL` and `OCI_NAMESPACE` plus a transport. */
export class GoClient {
  constructor(
    private readonly rootUrl: () => string,
    readonly defaultName: string,
    private readonly transport: Transport,
  ) {}

  /** reggie's `NewRequest`: placeholders replaced only by non-empty values. */
  newRequest(method: string, path: string, options: RequestOptions = {}): GoRequest {
    const replacements: Array<[string, string]> = [
      ['<name>', options.name || this.defaultName],
      ['<reference>', options.reference ?? ''],
      ['<digest>', options.digest ?? ''],
      ['<session_id>', options.sessionId ?? ''],
    ];
    let filled = path;
    for (const [placeholder, value] of replacements) {
      if (value !== '') filled = filled.replaceAll(placeholder, value);
    }
    const root = this.rootUrl().replace(/\/$/, '');
    return new GoRequest(method, `${root}/${filled.replace(/^\//, '')}`);
  }

  /** Sends a request and follows redirects like Go (`FlexibleRedirectPolicy(20)`); throws where Go returns an error. */
  async do(request: GoRequest): Promise<GoResponse> {
    if (INVALID_URL.test(request.url)) throw new Error(`request is invalid: ${request.url}`);
    let url = request.url;
    if (request.query.size > 0) {
      const hash = url.indexOf('#');
      const base = hash >= 0 ? url.slice(0, hash) : url;
      url = `${base}${base.includes('?') && !base.endsWith('?') ? '&' : base.endsWith('?') ? '' : '?'}${encodeQuery(request.query)}`;
    }
    const headers = new Map(request.headers);
    // Go's transport never sends Content-Length from the header map; framing decides it.
    headers.delete('Content-Length');
    if (!headers.has('User-Agent')) headers.set('User-Agent', 'distribution-spec-conformance-tests');
    const contentType = headers.get('Content-Type');
    if (!headers.get('Accept') && contentType && JSON_TYPE.test(contentType))
      headers.set('Accept', contentType);

    let method = request.method;
    let body = request.body;
    let framing = frame(method, body);
    const via: string[] = [];
    for (;;) {
      const wire = await this.transport({ method, url, headers: [...headers], framing, body });
      const location = wire.headers.get('location');
      if (!REDIRECTS.has(wire.status) || !location) return new GoResponse({ method, url }, wire);
      if (wire.status === 307 || wire.status === 308) {
        // A 307/308 would need the body again, which Go cannot replay for the suite's readers.
        if (framing === 'chunked') return new GoResponse({ method, url }, wire);
      } else {
        if (method !== 'GET' && method !== 'HEAD') method = 'GET';
        body = null;
        framing = frame(method, null);
      }
      via.push(url);
      if (via.length >= 20) throw new Error('stopped after 20 redirects');
      url = new URL(location, url).href;
    }
  }
}

/**
 * Go's transfer writer: a body of unknown length is chunked, except that for methods that usually
 * lack one it probes first and drops an empty body; without a body, POST/PUT/PATCH send
 * `Content-Length: 0`.
 */
function frame(method: string, body: Uint8Array | null): Framing {
  if (body && (body.byteLength > 0 || !USUALLY_BODYLESS.has(method))) return 'chunked';
  return METHODS_WITH_LENGTH.has(method) ? 'zero-length' : 'none';
}
