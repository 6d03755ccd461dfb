import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { ListenAddress, Settings } from '../config/settings.js';

/** A listening server of any kind (HTTP, HTTPS, HTTP/2 with HTTP/1.1 fallback). */
export type AnyServer = Server | HttpsServer | Http2SecureServer;

/** The main server, and how to reload its certificate. */
export interface MainServer {
  readonly server: AnyServer;
  /** Re-reads the certificate, key and client CAs (SIGHUP); existing connections keep theirs. */
  reloadTls(): Promise<void>;
}

type TlsSettings = NonNullable<Settings['http']['tls']>;

async function tlsMaterial(tls: TlsSettings): Promise<SecureContextOptions> {
  const [cert, key, ...cas] = await Promise.all([
    readFile(tls.certificate),
    readFile(tls.key),
    ...tls.clientCas.map((file) => readFile(file)),
  ]);
  return { cert, key, minVersion: tls.minVersion, ...(cas.length > 0 ? { ca: cas } : {}) };
}

/**
 * Creates the main server: plain HTTP, HTTPS, or (unless `http.http2.disabled`) HTTP/2 over TLS
 * with HTTP/1.1 for clients that do not offer h2. With client CAs, clients must present a
 * certificate they signed.
 */
export async function createMainServer(
  http: Settings['http'],
  listener: RequestListener,
): Promise<MainServer> {
  const tls = http.tls;
  if (!tls) {
    return { server: tuneTimeouts(createHttpServer(listener)), reloadTls: async () => {} };
  }
  const clientAuth = tls.clientCas.length > 0 ? { requestCert: true, rejectUnauthorized: true } : {};
  const material = await tlsMaterial(tls);
  const server: HttpsServer | Http2SecureServer = http.http2
    ? createSecureServer({ ...material, ...clientAuth, allowHTTP1: true }, listener as never)
    : tuneTimeouts(createHttpsServer({ ...material, ...clientAuth }, listener));
  return {
    server,
    async reloadTls() {
      server.setSecureContext(await tlsMaterial(tls));
    },
  };
}

/** Large layers over slow links: never time a request out mid-transfer. */
function tuneTimeouts<T extends Server | HttpsServer>(server: T): T {
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}

/** Listens; rejects with a one-line reason (address in use, permission denied…). */
export function listen(server: AnyServer | Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = 'path' in address ? address.path : `${formatHost(address.host)}:${address.port}`;
      const reason =
        error.code === 'EADDRINUSE'
          ? 'address already in use'
          : error.code === 'EACCES'
            ? 'permission denied'
            : error.code === 'EADDRNOTAVAIL'
              ? 'address not available on this machine'
              : error.message;
      reject(new Error(`cannot listen on ${where}: ${reason}`));
    };
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in address) server.listen(address.path, done);
    else server.listen(address.port, address.host, done);
  });
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `http(s)://host:port` of a listening server (for the start-up line). */
export function urlOf(server: AnyServer | Server, secure: boolean): string {
  const address = server.address();
  if (typeof address === 'string') return `unix:${address}`;
  const { address: host, port } = address as AddressInfo;
  const shown = host === '::' || host === '0.0.0.0' ? (host === '::' ? '[::]' : host) : formatHost(host);
  return `${secure ? 'https' : 'http'}://${shown}:${port}`;
}
