import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Logger, RegistryError } from '@wharf/core';

/** A request Node's HTTP parser refused, or an `Expect` it cannot meet, as {@link handleClientErrors} reports it. */
export interface ClientErrorInfo {
  /** Node's error code (`HPE_HEADER_OVERFLOW`, `HPE_INVALID_METHOD`…), or `EXPECTATION_FAILED`. */
  readonly code: string;
  /** The status answered (400, 408, 413, 417 or 431). */
  readonly status: number;
  /** Whether the answer could be sent: false when the connection was already unusable. */
  readonly answered: boolean;
}

/** Options of {@link handleClientErrors}. */
export interface ClientErrorOptions {
  /** Receives one `debug` line per refused request (pass the registry's logger). */
  readonly logger?: Pick<Logger, 'debug'>;
  /** Called once per refused request, e.g. to count them in a metric. */
  readonly onClientError?: (info: ClientErrorInfo) => void;
}

/** The events {@link handleClientErrors} listens to: a `node:http` or `node:https` server. */
export interface ClientErrorSource {
  on(event: 'clientError', listener: (error: Error, socket: Duplex) => void): unknown;
  on(event: 'checkExpectation', listener: (req: IncomingMessage, res: ServerResponse) => void): unknown;
}

/** Node's answers to what its parser refuses, by error code; anything else is a 400. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

const MESSAGES: Readonly<Record<number, string>> = {
  400: 'malformed HTTP request',
  408: 'request not received in time',
  413: 'chunk extensions too large',
  417: 'expectation not supported',
  431: 'request headers too large',
};

function errorBody(status: number, detail: Record<string, string>): Buffer {
  const error = new RegistryError('UNSUPPORTED', { status, message: MESSAGES[status]!, detail });
  return Buffer.from(JSON.stringify(error.toJSON()));
}

function rawResponse(status: number, body: Buffer): Buffer {
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${body.byteLength}\r\n` +
    'Docker-Distribution-API-Version: registry/2.0\r\n' +
    'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Whether a response on this connection already started, so raw bytes would corrupt it. */
function responseStarted(socket: Duplex): boolean {
  const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return current?.headersSent === true;
}

/**
 * Answers what Node's HTTP parser refuses (malformed request lines or headers, oversized headers,
 * bad chunked framing, header timeouts) and `Expect` values other than `100-continue` with the
 * distribution spec's JSON error body (code `UNSUPPORTED`, status 400, 408, 413, 417 or 431) instead
 * of Node's empty-bodied answers, wherever the connection still allows an answer. Each refused
 * request is reported once: one `debug` log line and one `onClientError` call.
 *
 * Install it on the `node:http` or `node:https` server that serves the registry (it listens to the
 * server's `clientError` and `checkExpectation` events).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createRegistry } from '@wharf/core';
 * import { createHandler, handleClientErrors } from '@wharf/http-node';
 *
 * const server = createServer(createHandler(createRegistry()));
 * handleClientErrors(server);
 * ```
 */
export function handleClientErrors(server: ClientErrorSource, options: ClientErrorOptions = {}): void {
  const report = (code: string, status: number, answered: boolean, err?: Error): void => {
    options.logger?.debug({ code, status, answered, ...(err ? { err } : {}) }, 'malformed HTTP request');
    options.onClientError?.({ code, status, answered });
  };

  server.on('clientError', (error: Error, socket: Duplex) => {
    const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    // A client that reset the connection sent nothing wrong and can be told nothing.
    if (code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = STATUS_BY_CODE[code] ?? 400;
    const answered = socket.writable && !responseStarted(socket);
    report(code, status, answered, error);
    if (!answered) {
      socket.destroy();
      return;
    }
    socket.end(rawResponse(status, errorBody(status, { reason: code })), () => socket.destroy());
  });

  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const expect = req.headers.expect ?? '';
    const body = errorBody(417, { expect });
    report('EXPECTATION_FAILED', 417, true);
    res.writeHead(417, {
      'Content-Type': 'application/json',
      'Content-Length': String(body.byteLength),
      'Docker-Distribution-API-Version': 'registry/2.0',
      Connection: 'close',
    });
    res.end(body);
  });
}
