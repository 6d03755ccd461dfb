import type { Server } from 'node:http';
import { createRegistry, type EventDispatcher, type Registry, type RegistryObserver } from '@wharf/core';
import { type ClientErrorSource, createHandler, handleClientErrors } from '@wharf/http-node';
import { accessFieldsOf, logAccess } from './access-log.js';
import { createAuth } from './auth.js';
import { secretPaths } from './config/introspect.js';
import type { LoadedConfig } from './config/load.js';
import { redact } from './config/redact.js';
import { configSchema } from './config/schema.js';
import type { Settings } from './config/settings.js';
import { notificationMetrics } from './events/metrics.js';
import { type PeriodicGc, schedulePeriodicGc } from './gc.js';
import { createReadiness } from './health.js';
import { createDebugServer } from './http/debug.js';
import { createListener } from './http/listener.js';
import { createMainServer, listen, urlOf } from './http/server.js';
import { shutdownOnSignals } from './lifecycle.js';
import type { ServerLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { createStorage } from './storage/index.js';

/** A failure to start: one line for the operator, and the exit code. */
export class StartError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs a start-up step; its failure becomes one line naming the step. */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StartError(`${what}: ${reason(error)}`);
  }
}

/** Never-expiring, for an upload purge: nothing but idle uploads is old enough to sweep. */
const FOREVER = Number.MAX_SAFE_INTEGER;

/** Starts the registry as configured; resolves once it listens. */
export async function serve(
  loaded: LoadedConfig & { settings: Settings },
  file: string | undefined,
  logger: ServerLogger,
) {
  const { settings } = loaded;
  for (const problem of loaded.problems) {
    const fields = { key: problem.path, source: problem.source };
    if (problem.severity === 'warning') logger.warn(fields, `configuration: ${problem.message}`);
    else logger.info(fields, `configuration: ${problem.message}`);
  }

  const metrics = settings.http.debug?.metricsPath
    ? createMetrics({ driver: settings.storage.driver, repositoryLabels: settings.metrics.repositoryLabels })
    : undefined;
  const storage = await step('storage', () => createStorage(settings.storage));
  const auth = await step('authentication', () => createAuth(settings, logger, metrics?.authFailure));
  const prefix = settings.http.prefix;
  // Only what is used: without an access log or metrics, core counts and times nothing.
  const observer: RegistryObserver | undefined =
    metrics || settings.log.accessLog
      ? {
          requestStarted: metrics?.observer.requestStarted,
          requestFinished: (event) => {
            metrics?.observer.requestFinished?.(event);
            if (settings.log.accessLog) logAccess(logger, accessFieldsOf(event, prefix));
          },
          storageOperation: metrics?.observer.storageOperation,
          proxyCache: metrics?.observer.proxyCache,
          upstreamRequest: metrics?.observer.upstreamRequest,
        }
      : undefined;

  let dispatcher: EventDispatcher | undefined;
  const notifications =
    metrics && settings.events ? notificationMetrics(metrics.registry, () => dispatcher) : undefined;
  let registry: Registry;
  try {
    registry = createRegistry({
      storage: storage.storage,
      logger,
      ...(settings.events
        ? { events: { ...settings.events, ...(notifications ? { onDelivery: notifications.delivery } : {}) } }
        : {}),
      ...(observer ? { observer } : {}),
      features: settings.features,
      limits: settings.limits,
      redirectExpiresIn: settings.redirectExpiresIn,
      ...(auth.authorize ? { authorize: auth.authorize } : {}),
      upstreams: settings.upstreams,
    });
  } catch (error) {
    await storage.close();
    // An option core refuses (an upstream's namespace, an endpoint's URL) is a configuration problem.
    throw new StartError(reason(error), 2);
  }
  dispatcher = registry.events;
  notifications?.endpoints(registry.events?.endpoints ?? []);
  const readiness = createReadiness({
    probe: storage.probe,
    background: settings.health.background,
    interval: settings.health.interval,
    threshold: settings.health.threshold,
    logger,
  });

  const listener = createListener({
    registry: createHandler(registry),
    readiness,
    prefix,
    headers: settings.http.headers,
    token:
      auth.tokenPath && auth.tokenListener
        ? { path: auth.tokenPath, listener: auth.tokenListener }
        : undefined,
    access: settings.log.accessLog
      ? (fields, quiet) =>
          quiet
            ? logger.debug({ access: true, ...fields }, `${fields.method} ${fields.path} ${fields.status}`)
            : logAccess(logger, fields)
      : undefined,
  });
  const main = await step('TLS', () => createMainServer(settings.http, listener));
  // Malformed HTTP/1.1 gets the spec's JSON error body instead of Node's empty 400/431/417 (an
  // HTTP/2 server answers its own protocol errors).
  if (!(settings.http.tls && settings.http.http2)) {
    handleClientErrors(main.server as ClientErrorSource, {
      logger,
      ...(metrics ? { onClientError: (info) => metrics.clientError(info) } : {}),
    });
  }
  const debug = settings.http.debug
    ? createDebugServer(
        readiness,
        metrics && settings.http.debug.metricsPath
          ? { path: settings.http.debug.metricsPath, registry: metrics.registry }
          : undefined,
      )
    : undefined;
  try {
    await listen(main.server, settings.http.listen);
    if (debug && settings.http.debug) await listen(debug, settings.http.debug.listen);
  } catch (error) {
    readiness.stop();
    main.server.close();
    debug?.close();
    await registry.close();
    await storage.close();
    throw new StartError(reason(error));
  }

  const jobs: PeriodicGc[] = [];
  const purging = settings.uploadPurging;
  const uploadMaxAge = purging.enabled ? purging.maxAge : FOREVER;
  if (settings.gc.interval !== undefined) {
    jobs.push({
      kind: 'gc',
      interval: settings.gc.interval,
      options: {
        gracePeriod: settings.gc.gracePeriod,
        deleteUntagged: settings.gc.deleteUntagged,
        uploadMaxAge,
      },
    });
  }
  if (purging.enabled) {
    jobs.push({
      kind: 'uploadpurge',
      interval: purging.interval,
      options: { gracePeriod: FOREVER, uploadMaxAge, dryRun: purging.dryRun, cache: false },
    });
  }
  const stopGc = schedulePeriodicGc(registry, jobs, logger, (kind, report) =>
    metrics?.gcFinished(kind, report),
  );

  process.on('SIGHUP', () => {
    Promise.all([main.reloadTls(), auth.reload()]).then(
      () =>
        logger.info(
          {
            tls: settings.http.tls !== undefined,
            htpasswd: settings.auth.kind === 'basic' || settings.auth.kind === 'issuer',
          },
          'reloaded the TLS certificate and the htpasswd file',
        ),
      (err: unknown) =>
        logger.error({ err }, 'reload failed; still serving with the previous certificate and users'),
    );
  });

  logger.info(
    {
      file: file ?? null,
      environment: Object.fromEntries(loaded.origins),
      config: redact(loaded.config, secretPaths(configSchema)),
    },
    'effective configuration',
  );
  const url = urlOf(main.server, settings.http.tls !== undefined);
  const debugUrl = debug ? urlOf(debug, false) : undefined;
  logger.info({ url, debug: debugUrl }, `wharf listening on ${url}${prefix}`);
  const servers: Server[] = [main.server as Server, ...(debug ? [debug] : [])];
  shutdownOnSignals(
    servers,
    'wharf',
    async () => {
      readiness.stop();
      await stopGc();
      // Deliveries in flight finish (or are handed back) before storage closes.
      await registry.close();
      await storage.close();
      logger.flush();
    },
    { drainTimeout: settings.http.drainTimeout, log: (line) => logger.info({}, line) },
  );
  return { url, debugUrl, registry };
}
