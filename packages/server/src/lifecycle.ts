import type { Server } from 'node:http';

/**
 * Stops `server` cleanly on SIGINT or SIGTERM: stop accepting, let idle connections go, give
 * transfers in flight five seconds, then run `cleanup` (stores, timers) and exit.
 */
export function shutdownOnSignals(server: Server, name: string, cleanup: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${name}: ${signal}, shutting down`);
    server.close(() => {
      cleanup().finally(() => process.exit(0));
    });
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      process.exit(0);
    }, 5_000).unref();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
