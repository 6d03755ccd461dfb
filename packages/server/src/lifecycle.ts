import type { Server } from 'node:http';
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

type AnyServer = Server | HttpsServer | Http2SecureServer;

/** Options of {@link shutdownOnSignals}. */
export interface ShutdownOptions {
  /** How long transfers in flight may finish. Default 5 s. */
  readonly drainTimeout?: number;
  /** Where the shutdown line goes. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** Keeps the connections of a server, so a shutdown can end them whatever the protocol. */
function trackConnections(server: AnyServer): { idle(): void; all(): void } {
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return {
    idle() {
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      // HTTP/2: GOAWAY, so sessions end once their streams have.
      for (const session of sessions) session.close();
    },
    all() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * Stops the servers cleanly on SIGINT or SIGTERM: stop accepting, let idle connections go, give
 * transfers in flight `drainTimeout`, then run `cleanup` (stores, timers) and exit.
 */
export function shutdownOnSignals(
  servers: AnyServer | readonly AnyServer[],
  name: string,
  cleanup: () => Promise<void>,
  options: ShutdownOptions = {},
): void {
  const list = [servers].flat() as AnyServer[];
  const connections = list.map(trackConnections);
  const log = options.log ?? ((line: string) => console.log(line));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${name}: ${signal}, shutting down`);
    const closed = list.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const connection of connections) connection.idle();
    Promise.all(closed)
      .then(cleanup)
      .finally(() => process.exit(0));
    setTimeout(() => {
      for (const connection of connections) connection.all();
    }, options.drainTimeout ?? 5_000).unref();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
