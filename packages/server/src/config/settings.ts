import { type AccessRule, parseRules } from '@wharf/auth';
import type { EventsOptions, RegistryFeatures, RegistryLimits, UpstreamOptions } from '@wharf/core';
import type { Config } from './schema.js';
import { notificationProblems, resolveNotifications } from './sections/notifications.js';
import { parseBytes, parseDuration } from './units.js';

/** Where to listen. */
export type ListenAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** The storage backend, resolved. */
export type StorageSettings =
  | { readonly driver: 'inmemory' }
  | {
      readonly driver: 'filesystem';
      readonly root: string;
      /** Flush acknowledged writes to disk (`storage.filesystem.fsync`). */
      readonly fsync: boolean;
      /** Flush each chunk before its 202 (`storage.filesystem.syncchunks`). */
      readonly syncChunks: boolean;
    }
  | {
      readonly driver: 's3';
      readonly bucket: string;
      readonly region: string;
      readonly endpoint: string | undefined;
      readonly accessKey: string | undefined;
      readonly secretKey: string | undefined;
      readonly sessionToken: string | undefined;
      readonly prefix: string;
      readonly forcePathStyle: boolean;
      readonly skipVerify: boolean;
      readonly partSize: number | undefined;
      /** Parallel ranged reads of large blobs; `undefined` fields keep storage-s3's defaults. */
      readonly reads: {
        readonly threshold: number | undefined;
        readonly partSize: number | undefined;
        readonly partsInFlight: number | undefined;
      };
      readonly tagCacheTtl: number | undefined;
      readonly dualStack: boolean;
      readonly accelerate: boolean;
      readonly redirect: boolean;
    };

/** How clients authenticate. */
export type AuthSettings =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly htpasswd: string; readonly realm: string }
  | {
      readonly kind: 'token';
      readonly realm: string;
      readonly service: string;
      readonly issuer: string;
      readonly rootCertBundle: string | undefined;
      readonly jwks: string | undefined;
    }
  | {
      readonly kind: 'issuer';
      readonly htpasswd: string;
      readonly realm: string | undefined;
      readonly service: string;
      readonly issuer: string;
      readonly key: string | undefined;
      readonly ttlSeconds: number;
    };

/** Everything the server runs with, resolved from the configuration. */
export interface Settings {
  readonly log: {
    readonly level: 'error' | 'warn' | 'info' | 'debug';
    readonly format: 'json' | 'text' | undefined;
    readonly fields: Readonly<Record<string, string | number | boolean>>;
    readonly accessLog: boolean;
  };
  readonly http: {
    readonly listen: ListenAddress;
    readonly prefix: string;
    readonly host: string | undefined;
    readonly headers: Readonly<Record<string, string[]>>;
    readonly drainTimeout: number;
    readonly tls:
      | {
          readonly certificate: string;
          readonly key: string;
          readonly clientCas: readonly string[];
          readonly minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
        }
      | undefined;
    readonly http2: boolean;
    readonly debug: { readonly listen: ListenAddress; readonly metricsPath: string | undefined } | undefined;
  };
  readonly storage: StorageSettings;
  readonly readOnly: boolean;
  readonly uploadPurging: {
    readonly enabled: boolean;
    readonly maxAge: number;
    readonly interval: number;
    readonly dryRun: boolean;
  };
  readonly auth: AuthSettings;
  readonly access: {
    readonly rules: string | readonly AccessRule[] | undefined;
    readonly admins: readonly string[];
    readonly anonymousPull: boolean;
    readonly rateLimit: { readonly attempts: number; readonly windowSeconds: number } | false;
  };
  readonly health: { readonly background: boolean; readonly interval: number; readonly threshold: number };
  readonly features: RegistryFeatures;
  readonly limits: Partial<RegistryLimits>;
  readonly gc: {
    readonly interval: number | undefined;
    readonly gracePeriod: number;
    readonly deleteUntagged: boolean;
  };
  readonly redirectExpiresIn: number;
  readonly metrics: { readonly repositoryLabels: boolean };
  /** Pull-through caches: `proxy` (every repository) and `wharf.upstreams`. */
  readonly upstreams: readonly UpstreamOptions[];
  /** The event pipeline (`notifications`); undefined without an enabled endpoint. */
  readonly events: EventsOptions | undefined;
}

/** A problem found while resolving (a value that is valid alone but not with the others). */
export interface ResolveProblem {
  readonly path: string;
  readonly message: string;
}

const ms = (value: string | number): number => parseDuration(value)!;
const bytes = (value: string | number | undefined): number | undefined =>
  value === undefined ? undefined : parseBytes(value);

/** Docker Hub's registry answers at hosts other than the one clients name. */
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);

/** The upstreams of `proxy` and `wharf.upstreams`, with problems for clashing namespaces or prefixes. */
function resolveUpstreams(config: Config, problems: ResolveProblem[]): UpstreamOptions[] {
  const upstreams: Array<{ path: string; options: UpstreamOptions }> = [];
  const { proxy } = config;
  if (proxy) {
    const host = new URL(proxy.remoteurl).host.toLowerCase();
    const ttl = ms(proxy.ttl);
    upstreams.push({
      path: 'proxy',
      options: {
        namespace: DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host,
        url: proxy.remoteurl,
        // distribution's mirror: every repository is the upstream's.
        prefix: '',
        ...(proxy.username !== undefined
          ? { credentials: { username: proxy.username, password: proxy.password ?? '' } }
          : {}),
        ...(ttl > 0 ? { cache: { maxUnusedAge: ttl } } : {}),
      },
    });
  }
  config.wharf.upstreams.forEach((u, i) => {
    const path = `wharf.upstreams.${i}`;
    if (u.token !== undefined && u.username !== undefined) {
      problems.push({ path, message: 'give token or username and password, not both' });
    }
    const credentials =
      u.token !== undefined
        ? { token: u.token }
        : u.username !== undefined
          ? { username: u.username, password: u.password ?? '' }
          : undefined;
    upstreams.push({
      path,
      options: {
        namespace: u.namespace,
        url: u.url,
        ...(u.prefix === undefined ? {} : { prefix: u.prefix }),
        ...(credentials ? { credentials } : {}),
        tagFreshness: ms(u.tagfreshness),
        ...(u.allow ? { allow: u.allow } : {}),
        ...(u.deny ? { deny: u.deny } : {}),
        maxConcurrency: u.maxconcurrency,
        localOverrides: u.localoverrides,
        timeouts: {
          request: ms(u.timeouts.request),
          revalidate: ms(u.timeouts.revalidate),
          idle: ms(u.timeouts.idle),
        },
        cache: {
          ...(u.cache.maxunusedage === undefined ? {} : { maxUnusedAge: ms(u.cache.maxunusedage) }),
          ...(u.cache.maxbytes === undefined ? {} : { maxBytes: bytes(u.cache.maxbytes)! }),
        },
        ...(u.spooldirectory === undefined ? {} : { spoolDirectory: u.spooldirectory }),
      },
    });
  });
  // A request's ns, and a repository name, must each lead to one upstream.
  upstreams.forEach(({ path, options }, i) => {
    const earlier = upstreams.slice(0, i);
    const namespace = options.namespace.toLowerCase();
    const clash = earlier.find((other) => other.options.namespace.toLowerCase() === namespace);
    if (clash) problems.push({ path, message: `namespace ${namespace} is also ${clash.path}'s` });
    const prefix = options.prefix ?? `${namespace}/`;
    const same = earlier.find(
      (other) => (other.options.prefix ?? `${other.options.namespace.toLowerCase()}/`) === prefix,
    );
    if (same) problems.push({ path, message: `prefix ${JSON.stringify(prefix)} is also ${same.path}'s` });
  });
  return upstreams.map((u) => u.options);
}

/** Parses `host:port`, `:port`, `[v6]:port`. */
export function parseListenAddress(addr: string, net: 'tcp' | 'unix'): ListenAddress | undefined {
  if (net === 'unix') return addr ? { path: addr } : undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (!match || Number(match[3]) > 65535) return undefined;
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '::' : host, port: Number(match[3]) };
}

const TLS_VERSIONS = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
} as const;

/** Turns the validated configuration into {@link Settings}. */
export function resolveSettings(config: Config): { settings?: Settings; problems: ResolveProblem[] } {
  const problems: ResolveProblem[] = [];
  const { log, http, storage, auth, health, wharf } = config;

  const listen = parseListenAddress(http.addr, http.net);
  if (!listen)
    problems.push({
      path: 'http.addr',
      message: `not an address: ${JSON.stringify(http.addr)} (try :5000 or 127.0.0.1:5000)`,
    });
  let debug: Settings['http']['debug'];
  if (http.debug.addr !== undefined) {
    const debugListen = parseListenAddress(http.debug.addr, 'tcp');
    if (!debugListen)
      problems.push({
        path: 'http.debug.addr',
        message: `not an address: ${JSON.stringify(http.debug.addr)}`,
      });
    else
      debug = {
        listen: debugListen,
        metricsPath: http.debug.prometheus.enabled ? http.debug.prometheus.path : undefined,
      };
  } else if (http.debug.prometheus.enabled) {
    problems.push({
      path: 'http.debug.prometheus.enabled',
      message: 'needs http.debug.addr (metrics are served on the debug address)',
    });
  }

  let tls: Settings['http']['tls'];
  if (http.tls && (http.tls.certificate || http.tls.key)) {
    if (!http.tls.certificate || !http.tls.key) {
      problems.push({ path: 'http.tls', message: 'certificate and key go together' });
    } else {
      tls = {
        certificate: http.tls.certificate,
        key: http.tls.key,
        clientCas: http.tls.clientcas ?? [],
        minVersion: TLS_VERSIONS[http.tls.minimumtls],
      };
    }
  } else if (http.tls?.clientcas?.length) {
    problems.push({ path: 'http.tls.clientcas', message: 'needs http.tls.certificate and key' });
  }

  let storageSettings: StorageSettings | undefined;
  const drivers = (['filesystem', 's3', 'inmemory'] as const).filter((d) => storage[d] !== undefined);
  if (drivers.length > 1) {
    problems.push({ path: 'storage', message: `exactly one storage driver, got ${drivers.join(', ')}` });
  } else if (storage.s3) {
    const s3 = storage.s3;
    let endpoint = s3.regionendpoint;
    if (endpoint && !/^https?:\/\//.test(endpoint))
      endpoint = `${s3.secure ? 'https' : 'http'}://${endpoint}`;
    storageSettings = {
      driver: 's3',
      bucket: s3.bucket,
      region: s3.region,
      endpoint,
      accessKey: s3.accesskey,
      secretKey: s3.secretkey,
      sessionToken: s3.sessiontoken,
      prefix: s3.rootdirectory.replace(/^\/+/, ''),
      forcePathStyle: s3.forcepathstyle ?? s3.regionendpoint !== undefined,
      skipVerify: s3.skipverify,
      partSize: bytes(s3.chunksize),
      reads: {
        threshold: bytes(s3.parallelreadthreshold),
        partSize: bytes(s3.readpartsize),
        partsInFlight: s3.readpartsinflight,
      },
      tagCacheTtl: s3.tagcachettl === undefined ? undefined : ms(s3.tagcachettl),
      dualStack: s3.usedualstack,
      accelerate: s3.accelerate,
      redirect: !storage.redirect.disable,
    };
  } else if (storage.inmemory !== undefined) {
    storageSettings = { driver: 'inmemory' };
  } else {
    const fs = storage.filesystem;
    if (fs?.syncchunks && !fs.fsync)
      problems.push({ path: 'storage.filesystem.syncchunks', message: 'needs storage.filesystem.fsync' });
    storageSettings = {
      driver: 'filesystem',
      root: fs?.rootdirectory ?? './data',
      fsync: fs?.fsync ?? true,
      syncChunks: fs?.syncchunks ?? false,
    };
  }

  const kinds = [
    auth?.htpasswd && 'auth.htpasswd',
    auth?.token && 'auth.token',
    wharf.auth.token && 'wharf.auth.token',
  ].filter(Boolean);
  let authSettings: AuthSettings = { kind: 'none' };
  if (kinds.length > 1) {
    problems.push({ path: 'auth', message: `one authentication at a time, got ${kinds.join(' and ')}` });
  } else if (auth?.htpasswd) {
    authSettings = { kind: 'basic', htpasswd: auth.htpasswd.path, realm: auth.htpasswd.realm };
  } else if (auth?.token) {
    const { realm, service, issuer, rootcertbundle, jwks } = auth.token;
    if (!rootcertbundle && !jwks)
      problems.push({
        path: 'auth.token',
        message: 'needs rootcertbundle or jwks (the keys that sign tokens)',
      });
    authSettings = { kind: 'token', realm, service, issuer, rootCertBundle: rootcertbundle, jwks };
  } else if (wharf.auth.token) {
    const token = wharf.auth.token;
    authSettings = {
      kind: 'issuer',
      htpasswd: token.htpasswd,
      realm: token.realm,
      service: token.service,
      issuer: token.issuer,
      key: token.key,
      ttlSeconds: Math.max(1, Math.round(ms(token.ttl) / 1000)),
    };
  }

  const deletes = storage.delete.enabled;
  const f = wharf.features;
  const limits: { -readonly [K in keyof RegistryLimits]?: number } = {
    manifestMaxBytes: bytes(wharf.limits.manifestmaxbytes)!,
    tagsPerPush: wharf.limits.tagsperpush,
    pageSize: wharf.limits.pagesize,
  };
  if (wharf.limits.blobmaxbytes !== undefined) limits.blobMaxBytes = bytes(wharf.limits.blobmaxbytes)!;
  if (wharf.limits.chunkmaxlength !== undefined) limits.chunkMaxLength = bytes(wharf.limits.chunkmaxlength)!;
  if (wharf.limits.chunkminlength !== undefined) limits.chunkMinLength = bytes(wharf.limits.chunkminlength)!;

  const rateLimit = wharf.auth.ratelimit;
  let rules: string | readonly AccessRule[] | undefined;
  try {
    rules = Array.isArray(wharf.auth.rules) ? parseRules(wharf.auth.rules) : wharf.auth.rules;
  } catch (error) {
    problems.push({ path: 'wharf.auth.rules', message: (error as Error).message });
  }
  const upstreams = resolveUpstreams(config, problems);
  problems.push(...notificationProblems(config.notifications));
  if (problems.length > 0 || !listen || !storageSettings) return { problems };
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(http.headers ?? {})) headers[name] = [value].flat();
  const purging = storage.maintenance.uploadpurging;
  return {
    problems,
    settings: {
      log: {
        level: log.level,
        format: log.formatter === undefined ? undefined : log.formatter === 'text' ? 'text' : 'json',
        fields: log.fields ?? {},
        accessLog: !log.accesslog.disabled,
      },
      http: {
        listen,
        prefix: http.prefix.replace(/\/$/, ''),
        host: http.host?.replace(/\/$/, ''),
        headers,
        drainTimeout: ms(http.draintimeout),
        tls,
        http2: tls !== undefined && !http.http2.disabled,
        debug,
      },
      storage: storageSettings,
      readOnly: storage.maintenance.readonly.enabled,
      uploadPurging: {
        enabled: purging.enabled,
        maxAge: ms(purging.age),
        interval: ms(purging.interval),
        dryRun: purging.dryrun,
      },
      auth: authSettings,
      access: {
        rules,
        admins: wharf.auth.admins,
        anonymousPull: wharf.auth.anonymouspull,
        rateLimit:
          rateLimit === false
            ? false
            : {
                attempts: rateLimit.attempts,
                windowSeconds: Math.max(1, Math.round(ms(rateLimit.window) / 1000)),
              },
      },
      health: {
        background: health.storagedriver.enabled,
        interval: ms(health.storagedriver.interval),
        threshold: health.storagedriver.threshold,
      },
      features: {
        deleteManifests: f.deletemanifests ?? deletes,
        deleteTags: f.deletetags ?? deletes,
        deleteBlobs: f.deleteblobs ?? deletes,
        referrers: f.referrers,
        mount: f.mount,
        automaticMount: f.automaticmount,
        tagsOnPush: f.tagsonpush,
        monolithicPost: f.monolithicpost,
        sparseManifests: f.sparsemanifests,
        conditionalTagUpdates: f.conditionaltagupdates,
      },
      limits,
      gc: {
        // distribution's proxy expires content by itself: collect hourly unless told otherwise.
        interval:
          wharf.gc.interval !== undefined
            ? ms(wharf.gc.interval)
            : config.proxy && ms(config.proxy.ttl) > 0
              ? 3_600_000
              : undefined,
        gracePeriod: ms(wharf.gc.graceperiod),
        deleteUntagged: wharf.gc.deleteuntagged,
      },
      redirectExpiresIn: Math.max(1, Math.round(ms(wharf.redirectexpiry) / 1000)),
      metrics: { repositoryLabels: wharf.metrics.repositorylabels },
      upstreams,
      events: resolveNotifications(config.notifications),
    },
  };
}
