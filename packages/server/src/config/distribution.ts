/**
 * Keys of distribution's configuration that wharf does not implement. Each is reported by
 * `wharf config check` and logged at start, never silently ignored: a `warning` when distribution
 * would behave differently, a `notice` when the key has no effect wharf lacks. `error` marks keys
 * whose absence would change what the registry serves or who may use it: the server refuses them.
 * A path segment `*` matches any key.
 */
export interface UnsupportedKey {
  readonly path: string;
  readonly severity: 'error' | 'warning' | 'notice';
  readonly reason: string;
}

export const UNSUPPORTED_KEYS: readonly UnsupportedKey[] = [
  { path: 'log.hooks', severity: 'warning', reason: 'log hooks (e-mail) are not supported' },
  { path: 'log.reportcaller', severity: 'notice', reason: 'caller information is not logged' },
  {
    path: 'http.secret',
    severity: 'notice',
    reason: 'not needed: upload state lives in storage, not in signed URLs',
  },
  {
    path: 'http.relativeurls',
    severity: 'notice',
    reason: 'wharf always answers with relative Location URLs',
  },
  { path: 'http.tls.ciphersuites', severity: 'warning', reason: 'Node.js’s default cipher suites are used' },
  {
    path: 'http.tls.letsencrypt',
    severity: 'error',
    reason: 'Let’s Encrypt is not supported: give http.tls.certificate and key',
  },
  { path: 'storage.cache', severity: 'notice', reason: 'wharf keeps its own in-process caches' },
  { path: 'storage.tag', severity: 'notice', reason: 'tag lookups need no concurrency limit in wharf' },
  { path: 'storage.filesystem.maxthreads', severity: 'notice', reason: 'Node.js’s thread pool is used' },
  { path: 'storage.s3.v4auth', severity: 'notice', reason: 'requests are always signed with SigV4' },
  {
    path: 'storage.s3.encrypt',
    severity: 'warning',
    reason: 'server-side encryption settings are not supported; use bucket default encryption',
  },
  {
    path: 'storage.s3.keyid',
    severity: 'warning',
    reason: 'server-side encryption settings are not supported; use bucket default encryption',
  },
  {
    path: 'storage.s3.storageclass',
    severity: 'warning',
    reason: 'objects get the bucket’s default storage class',
  },
  { path: 'storage.s3.objectacl', severity: 'warning', reason: 'objects get the bucket’s default ACL' },
  {
    path: 'storage.s3.multipartcopychunksize',
    severity: 'notice',
    reason: 'server-side copies are sized automatically',
  },
  {
    path: 'storage.s3.multipartcopymaxconcurrency',
    severity: 'notice',
    reason: 'server-side copies are sized automatically',
  },
  {
    path: 'storage.s3.multipartcopythresholdsize',
    severity: 'notice',
    reason: 'server-side copies are sized automatically',
  },
  { path: 'storage.s3.useragent', severity: 'notice', reason: 'the AWS SDK’s user agent is used' },
  { path: 'storage.s3.loglevel', severity: 'notice', reason: 'S3 requests are not logged' },
  {
    path: 'storage.s3.checksumdisabled',
    severity: 'notice',
    reason: 'checksums are sent only when S3 requires them',
  },
  {
    path: 'storage.s3.checksumalgorithm',
    severity: 'notice',
    reason: 'checksums are sent only when S3 requires them',
  },
  {
    path: 'storage.redirect.exceptions',
    severity: 'warning',
    reason: 'redirect exceptions are not supported',
  },
  {
    path: 'storage.azure',
    severity: 'error',
    reason: 'the azure driver is not supported: use filesystem, s3 or inmemory',
  },
  {
    path: 'storage.gcs',
    severity: 'error',
    reason: 'the gcs driver is not supported: use s3 (GCS speaks S3), filesystem or inmemory',
  },
  {
    path: 'storage.swift',
    severity: 'error',
    reason: 'the swift driver is not supported: use filesystem, s3 or inmemory',
  },
  {
    path: 'storage.oss',
    severity: 'error',
    reason: 'the oss driver is not supported: use s3 (OSS speaks S3), filesystem or inmemory',
  },
  {
    path: 'auth.silly',
    severity: 'error',
    reason: 'silly authentication is not supported: use htpasswd or token',
  },
  { path: 'auth.token.autoredirect', severity: 'warning', reason: 'realm auto-redirect is not supported' },
  {
    path: 'auth.token.autoredirectpath',
    severity: 'warning',
    reason: 'realm auto-redirect is not supported',
  },
  {
    path: 'auth.token.signingalgorithms',
    severity: 'notice',
    reason: 'the keys decide the algorithms (asymmetric only)',
  },
  {
    path: 'health.file',
    severity: 'warning',
    reason: 'file health checks are not supported; /readyz checks storage',
  },
  {
    path: 'health.http',
    severity: 'warning',
    reason: 'HTTP health checks are not supported; /readyz checks storage',
  },
  {
    path: 'health.tcp',
    severity: 'warning',
    reason: 'TCP health checks are not supported; /readyz checks storage',
  },
  { path: 'middleware', severity: 'warning', reason: 'middleware (CloudFront, Redirect) is not supported' },
  { path: 'reporting', severity: 'warning', reason: 'error reporting (Bugsnag, New Relic) is not supported' },
  { path: 'redis', severity: 'notice', reason: 'wharf needs no shared cache' },
  {
    path: 'catalog',
    severity: 'warning',
    reason: 'catalog.maxentries is not supported; wharf.limits.pagesize caps every listing',
  },
  {
    path: 'notifications.events.includereferences',
    severity: 'warning',
    reason: 'events do not list a manifest’s references',
  },
  {
    path: 'proxy.exec',
    severity: 'error',
    reason: 'credential helpers are not supported: give proxy.username and proxy.password',
  },
  {
    path: 'proxy.cachewritetimeout',
    severity: 'notice',
    reason: 'cache writes are bounded by the upstream download’s idle timeout instead',
  },
  { path: 'validation', severity: 'warning', reason: 'manifest URL validation is not supported' },
  { path: 'policy', severity: 'warning', reason: 'repository classes are not supported' },
  { path: 'compatibility', severity: 'notice', reason: 'schema 1 manifests are not supported' },
  {
    path: 'otel',
    severity: 'warning',
    reason: 'OpenTelemetry export is not built in; see the metrics on http.debug',
  },
];
