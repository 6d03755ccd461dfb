import type { GcReport, RegistryObserver, RequestFinishedEvent } from '@wharf/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createProxyMetrics } from './proxy-metrics.js';

/** Route of a request target, before core has routed it (for the in-flight gauge). */
function routeOf(url: string): string {
  const path = url.split('?', 1)[0]!;
  if (/^\/v2\/?$/.test(path)) return 'base';
  if (path === '/v2/_catalog') return 'catalog';
  if (path.endsWith('/tags/list')) return 'tags';
  if (path.includes('/manifests/')) return 'manifest';
  if (path.includes('/referrers/')) return 'referrers';
  if (/\/blobs\/uploads\/?$/.test(path)) return 'blob-upload';
  if (path.includes('/blobs/uploads/')) return 'blob-upload-chunk';
  if (path.includes('/blobs/')) return 'blob';
  return 'other';
}

const UPLOAD_ROUTES = new Set(['blob-upload', 'blob-upload-chunk']);
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const SIZE_BUCKETS = [0, 512, 4096, 65_536, 1 << 20, 16 << 20, 128 << 20, 1 << 30];

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** The storage driver, as distribution labels storage metrics. */
  readonly driver: string;
  /** Label byte counters with repository names (unbounded). */
  readonly repositoryLabels: boolean;
}

/**
 * Prometheus metrics: distribution's names where distribution has the metric, `wharf_*` for the
 * rest. Labels are bounded (route names, methods, status codes) unless repository labels are on.
 */
export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'registry_http_requests_total',
    help: 'Requests answered, by method, status code and handler.',
    labelNames: ['method', 'code', 'handler'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'Time from arrival until the response body was sent.',
    labelNames: ['method', 'handler'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'registry_http_in_flight_requests',
    help: 'Requests being served.',
    labelNames: ['handler'],
    registers: [registry],
  });
  const requestSize = new Histogram({
    name: 'registry_http_request_size_bytes',
    help: 'Request body bytes read.',
    labelNames: ['method', 'handler'],
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  const responseSize = new Histogram({
    name: 'registry_http_response_size_bytes',
    help: 'Response body bytes sent.',
    labelNames: ['method', 'handler'],
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  const storage = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'Time of storage operations, by driver and action (store.operation).',
    labelNames: ['driver', 'action'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const storageErrors = new Counter({
    name: 'wharf_storage_errors_total',
    help: 'Storage operations that failed, by driver and action.',
    labelNames: ['driver', 'action'],
    registers: [registry],
  });
  const uploads = new Gauge({
    name: 'wharf_uploads_in_progress',
    help: 'Blob upload requests (POST, PATCH, PUT) being received.',
    registers: [registry],
  });
  const byteLabels = options.repositoryLabels ? ['repository'] : [];
  const pushed = new Counter({
    name: 'wharf_pushed_bytes_total',
    help: 'Blob and manifest bytes received by successful pushes.',
    labelNames: byteLabels,
    registers: [registry],
  });
  const pulled = new Counter({
    name: 'wharf_pulled_bytes_total',
    help: 'Blob and manifest bytes sent to clients.',
    labelNames: byteLabels,
    registers: [registry],
  });
  const gcRuns = new Counter({
    name: 'wharf_gc_runs_total',
    help: 'Garbage collections (and upload purges), by kind and result.',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  const gcReclaimed = new Counter({
    name: 'wharf_gc_reclaimed_bytes_total',
    help: 'Bytes of blobs and staged uploads deleted by garbage collection.',
    registers: [registry],
  });
  const gcLast = new Gauge({
    name: 'wharf_gc_last_success_timestamp_seconds',
    help: 'When the last garbage collection finished successfully.',
    labelNames: ['kind'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'wharf_auth_failures_total',
    help: 'Refused sign-ins and requests: bad credentials or tokens, denied access, rate limiting.',
    labelNames: ['reason'],
    registers: [registry],
  });

  const clientErrors = new Counter({
    name: 'wharf_http_client_errors_total',
    help: 'Requests refused before routing because they were malformed HTTP, by Node parser code and status.',
    labelNames: ['code', 'status'],
    registers: [registry],
  });

  const started = new Map<string, string>();
  const byRepository = (event: RequestFinishedEvent) =>
    options.repositoryLabels ? { repository: event.repository ?? '' } : {};

  const observer: RegistryObserver = {
    requestStarted({ requestId, url }) {
      const handler = routeOf(url);
      started.set(requestId, handler);
      inFlight.inc({ handler });
      if (UPLOAD_ROUTES.has(handler)) uploads.inc();
    },
    requestFinished(event) {
      const startedAs = started.get(event.requestId);
      if (startedAs !== undefined) {
        started.delete(event.requestId);
        inFlight.dec({ handler: startedAs });
        if (UPLOAD_ROUTES.has(startedAs)) uploads.dec();
      }
      const handler = event.route ?? 'other';
      const method = event.method;
      requests.inc({ method, code: String(event.status), handler });
      duration.observe({ method, handler }, event.durationSeconds);
      requestSize.observe({ method, handler }, event.bytesIn);
      responseSize.observe({ method, handler }, event.bytesOut);
      const ok = event.status >= 200 && event.status < 300;
      if (ok && event.bytesIn > 0) pushed.inc(byRepository(event), event.bytesIn);
      if (ok && method === 'GET' && (handler === 'blob' || handler === 'manifest') && event.bytesOut > 0) {
        pulled.inc(byRepository(event), event.bytesOut);
      }
      if (event.errorCode === 'DENIED') authFailures.inc({ reason: 'denied' });
      if (event.errorCode === 'TOOMANYREQUESTS') authFailures.inc({ reason: 'rate_limited' });
    },
    storageOperation({ store, operation, durationSeconds, ok }) {
      const labels = { driver: options.driver, action: `${store}.${operation}` };
      storage.observe(labels, durationSeconds);
      if (!ok) storageErrors.inc(labels);
    },
    ...createProxyMetrics(registry),
  };

  return {
    registry,
    observer,
    /** A sign-in with wrong credentials, or a token that does not verify. */
    authFailure(reason: 'credentials' | 'token' | 'rate_limited' | 'denied'): void {
      authFailures.inc({ reason });
    },
    /** A request Node's HTTP parser refused (see `handleClientErrors`). */
    clientError({ code, status }: { code: string; status: number }): void {
      clientErrors.inc({ code, status: String(status) });
    },
    gcFinished(kind: 'gc' | 'uploadpurge', report: GcReport | undefined): void {
      gcRuns.inc({ kind, result: report ? 'ok' : 'failed' });
      if (!report) return;
      if (!report.dryRun) gcReclaimed.inc(report.bytesReclaimed);
      gcLast.set({ kind }, report.finishedAt.getTime() / 1000);
    },
  };
}

/** The server's metrics. */
export type Metrics = ReturnType<typeof createMetrics>;
