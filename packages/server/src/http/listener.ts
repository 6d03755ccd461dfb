import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, ServerResponse } from 'node:http';
import { type AccessLogFields, pathOf } from '../access-log.js';
import { type Readiness, serveHealth } from '../health.js';

/** Options of {@link createListener}. */
export interface ListenerOptions {
  /** Serves `/v2/…` (the registry's node handler). */
  readonly registry: RequestListener;
  readonly readiness: Readiness;
  /** `http.prefix` without its trailing slash (`''` for none). */
  readonly prefix: string;
  /** `http.headers`: added to every response. */
  readonly headers: Readonly<Record<string, string[]>>;
  readonly token: { readonly path: string; readonly listener: RequestListener } | undefined;
  /** Access-log lines for requests the registry does not see (token endpoint, health, 404s). */
  readonly access: ((fields: AccessLogFields, quiet: boolean) => void) | undefined;
}

const NOT_FOUND = JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'not found' }] });

/** Adds the prefix to `Location` and `Link` targets the registry sends as absolute paths. */
function prefixLocations(res: ServerResponse, prefix: string): void {
  const writeHead = res.writeHead.bind(res) as (
    status: number,
    headers?: OutgoingHttpHeaders,
  ) => ServerResponse;
  const fix = (value: unknown) =>
    typeof value === 'string' ? value.replace(/(^|<)\/v2\//g, `$1${prefix}/v2/`) : value;
  res.writeHead = ((status: number, headers?: OutgoingHttpHeaders) => {
    if (headers) {
      for (const name of Object.keys(headers)) {
        if (/^(location|link)$/i.test(name)) headers[name] = fix(headers[name]) as string;
      }
    }
    return writeHead(status, headers);
  }) as ServerResponse['writeHead'];
}

/** Counts body bytes of a request answered outside the registry, and logs it when it ends. */
function logWhenDone(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  access: NonNullable<ListenerOptions['access']>,
  quiet: boolean,
): void {
  const start = process.hrtime.bigint();
  // As the registry does for its own requests: the client's id when it is a short printable token.
  const given = req.headers['x-request-id'];
  const reqId = typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', reqId);
  let bytesIn = 0;
  req.on('data', (chunk: Buffer) => {
    bytesIn += chunk.byteLength;
  });
  res.once('close', () => {
    access(
      {
        reqId,
        method: req.method ?? 'GET',
        path,
        status: res.statusCode,
        bytesIn,
        bytesOut: Number(res.getHeader('content-length') ?? 0),
        durationSeconds: Number(process.hrtime.bigint() - start) / 1e9,
        user: undefined,
        aborted: !res.writableFinished,
      },
      quiet,
    );
  });
}

/**
 * The server's request listener: health endpoints, the token endpoint, the registry under
 * `http.prefix`, and 404 for anything else; configured headers on every response.
 */
export function createListener(options: ListenerOptions): RequestListener {
  const { prefix, registry, token, access } = options;
  const headers = Object.entries(options.headers);
  return (req, res) => {
    for (const [name, values] of headers) res.setHeader(name, values);
    const url = req.url ?? '/';
    const path = pathOf(url);
    if (path === '/healthz' || path === '/readyz') {
      if (access) logWhenDone(req, res, path, access, true);
      serveHealth(options.readiness, path, req, res);
      return;
    }
    if (token && path === token.path) {
      if (access) logWhenDone(req, res, path, access, false);
      token.listener(req, res);
      return;
    }
    if (prefix === '') {
      registry(req, res);
      return;
    }
    if (path === `${prefix}/v2` || path.startsWith(`${prefix}/v2/`)) {
      req.url = url.slice(prefix.length);
      prefixLocations(res, prefix);
      registry(req, res);
      return;
    }
    if (access) logWhenDone(req, res, path, access, false);
    res.writeHead(404, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(NOT_FOUND),
    });
    res.end(req.method === 'HEAD' ? undefined : NOT_FOUND);
  };
}
