import { createServer, type Server } from 'node:http';
import type { Registry as MetricsRegistry } from 'prom-client';
import { pathOf } from '../access-log.js';
import { type Readiness, serveHealth } from '../health.js';

/** The debug server: Prometheus metrics (when enabled), `/healthz` and `/readyz`. */
export function createDebugServer(
  readiness: Readiness,
  metrics: { readonly path: string; readonly registry: MetricsRegistry } | undefined,
): Server {
  return createServer((req, res) => {
    const path = pathOf(req.url ?? '/');
    if (serveHealth(readiness, path, req, res)) return;
    if (metrics && path === metrics.path && (req.method === 'GET' || req.method === 'HEAD')) {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
}
