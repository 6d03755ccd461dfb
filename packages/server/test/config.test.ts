import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { logLines, serveConfig, type TempDir, tempDir, wharf } from './helpers.js';

let temp: TempDir;
beforeAll(async () => {
  temp = await tempDir('wharf-config-');
});
afterAll(async () => {
  await temp?.remove();
});

/** Debian's docker-registry configuration, as shipped. */
const DEBIAN = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/docker/registry/htpasswd
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

describe('configuration file', () => {
  it('reads a docker-registry config.yml in distribution’s vocabulary', async () => {
    const file = await temp.file('debian.yml', DEBIAN);
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(problems).toEqual([
      {
        severity: 'notice',
        path: 'storage.cache',
        message: 'wharf keeps its own in-process caches',
        source: `${file}:6:3`,
      },
    ]);
    expect(settings).toMatchObject({
      log: { level: 'info', fields: { service: 'registry' }, accessLog: true },
      http: { listen: { host: '::', port: 5000 }, headers: { 'X-Content-Type-Options': ['nosniff'] } },
      storage: { driver: 'filesystem', root: '/var/lib/docker-registry' },
      auth: { kind: 'basic', htpasswd: '/etc/docker/registry/htpasswd', realm: 'basic-realm' },
      health: { background: true, interval: 10_000, threshold: 3 },
      features: { deleteManifests: true, deleteTags: true, deleteBlobs: true },
    });
  });

  it('defaults to distribution’s behaviour: no deletes, upload purging after a week', async () => {
    const { settings } = await loadConfig({ env: {} });
    expect(settings).toMatchObject({
      http: { listen: { host: '127.0.0.1', port: 5000 }, prefix: '', tls: undefined },
      storage: { driver: 'filesystem', root: './data' },
      features: { deleteManifests: false, deleteTags: false, deleteBlobs: false },
      uploadPurging: { enabled: true, maxAge: 168 * 3600_000, interval: 24 * 3600_000 },
      gc: { interval: undefined, gracePeriod: 3600_000, deleteUntagged: false },
      auth: { kind: 'none' },
    });
  });

  it('reads the wharf section: GC, upload max age, features, limits, the token issuer', async () => {
    const file = await temp.file(
      'wharf.yml',
      `storage:
  inmemory:
  maintenance:
    uploadpurging:
      age: 36h
wharf:
  gc: { interval: 6h, graceperiod: 30m, deleteuntagged: true }
  features: { referrers: false, sparsemanifests: true, deletetags: true }
  limits: { manifestmaxbytes: 1MiB, chunkmaxlength: 64MiB, pagesize: 50 }
  auth:
    token: { htpasswd: /etc/wharf/htpasswd, key: /etc/wharf/key.pem, ttl: 2m, service: registry.example }
    admins: [alice]
    anonymouspull: yes
    ratelimit: { attempts: 5, window: 30s }
    rules:
      - { users: bob, repositories: 'team/**', actions: [pull, push] }
`,
    );
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({
      storage: { driver: 'inmemory' },
      uploadPurging: { maxAge: 36 * 3600_000 },
      gc: { interval: 6 * 3600_000, gracePeriod: 30 * 60_000, deleteUntagged: true },
      features: { referrers: false, sparseManifests: true, deleteTags: true, deleteManifests: false },
      limits: { manifestMaxBytes: 1 << 20, chunkMaxLength: 64 << 20, pageSize: 50 },
      auth: { kind: 'issuer', htpasswd: '/etc/wharf/htpasswd', key: '/etc/wharf/key.pem', ttlSeconds: 120 },
      access: {
        admins: ['alice'],
        anonymousPull: true,
        rateLimit: { attempts: 5, windowSeconds: 30 },
        rules: [{ users: 'bob', repositories: 'team/**', actions: ['pull', 'push'] }],
      },
    });
  });

  it('take the S3 read path’s settings, and refuse out-of-range ones', async () => {
    const file = await temp.file(
      's3-reads.yml',
      `storage:
  s3:
    bucket: images
    regionendpoint: http://127.0.0.1:7480
    parallelreadthreshold: 32MiB
    readpartsize: 4MiB
    readpartsinflight: 6
    tagcachettl: 2s
`,
    );
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(problems).toEqual([]);
    expect(settings?.storage).toMatchObject({
      driver: 's3',
      reads: { threshold: 32 << 20, partSize: 4 << 20, partsInFlight: 6 },
      tagCacheTtl: 2000,
    });
    const defaults = await loadConfig({ env: { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_BUCKET: 'b' } });
    expect(defaults.settings?.storage).toMatchObject({
      reads: { threshold: undefined, partSize: undefined, partsInFlight: undefined },
      tagCacheTtl: undefined,
    });
    const bad = await temp.file(
      's3-bad-reads.yml',
      [
        'storage:',
        '  s3:',
        '    bucket: images',
        '    readpartsinflight: 0',
        '    readpartsize: 0',
        '    chunksize: 1MiB',
        'wharf:',
        '  limits:',
        '    manifestmaxbytes: 0',
        '',
      ].join('\n'),
    );
    const refused = await loadConfig({ file: bad, env: {} });
    expect(refused.settings).toBeUndefined();
    // Each under its key in the file, not the library option it feeds.
    expect(refused.problems.map((p) => `${p.severity} ${p.path}: ${p.message}`)).toEqual([
      'error storage.s3.readpartsinflight: Too small: expected number to be >=1',
      'error storage.s3.readpartsize: must be at least 1',
      'error storage.s3.chunksize: must be at least 5MiB',
      'error wharf.limits.manifestmaxbytes: must be at least 1',
    ]);
  });

  it('reports every problem with its place in the file', async () => {
    const file = await temp.file(
      'bad.yml',
      `version: 0.1
storage:
  s3:
    bucket: 42
    region: us-east-1
    encrypt: true
    rootdirectroy: /registry
  filesystem:
    rootdirectory: /srv
http:
  addr: :5000
  tls:
    letsencrypt:
      email: ops@example.com
health:
  storagedriver:
    interval: 10
notifications:
  events:
    includereferences: true
`,
    );
    const { settings, problems } = await loadConfig({ file, env: {} });
    expect(settings).toBeUndefined();
    expect(problems.map((p) => `${p.source?.replace(file, 'bad.yml')} ${p.severity} ${p.path}`)).toEqual([
      'bad.yml:4:13 error storage.s3.bucket',
      'bad.yml:6:5 warning storage.s3.encrypt',
      'bad.yml:7:5 error storage.s3.rootdirectroy',
      'bad.yml:13:5 error http.tls.letsencrypt',
      'bad.yml:17:15 error health.storagedriver.interval',
      'bad.yml:20:5 warning notifications.events.includereferences',
    ]);
    expect(problems.find((p) => p.path === 'storage.s3.rootdirectroy')?.message).toBe('unknown key');
  });

  it('refuses two storage drivers and two kinds of authentication', async () => {
    const file = await temp.file(
      'two.yml',
      `storage: { filesystem: { rootdirectory: /a }, inmemory: {} }
auth: { htpasswd: { path: /etc/htpasswd } }
wharf: { auth: { token: { htpasswd: /etc/htpasswd } } }
`,
    );
    const { problems } = await loadConfig({ file, env: {} });
    expect(problems.map((p) => p.message)).toEqual([
      'exactly one storage driver, got filesystem, inmemory',
      'one authentication at a time, got auth.htpasswd and wharf.auth.token',
    ]);
  });
});

describe('environment variables', () => {
  it('override file values by distribution’s naming rule (REGISTRY_<PATH>)', async () => {
    const file = await temp.file('env.yml', DEBIAN);
    const { settings, origins } = await loadConfig({
      file,
      env: {
        REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
        REGISTRY_LOG_LEVEL: 'debug',
        REGISTRY_STORAGE_DELETE_ENABLED: 'false',
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv/registry',
        REGISTRY_WHARF_GC_GRACEPERIOD: '10m',
        REGISTRY_WHARF_LIMITS_PAGESIZE: '20',
      },
    });
    expect(settings).toMatchObject({
      http: { listen: { host: '127.0.0.1', port: 6000 } },
      log: { level: 'debug' },
      storage: { driver: 'filesystem', root: '/srv/registry' },
      features: { deleteBlobs: false },
      gc: { gracePeriod: 600_000 },
      limits: { pageSize: 20 },
    });
    expect(origins.get('http.addr')).toBe('REGISTRY_HTTP_ADDR');
  });

  it('switch the driver with REGISTRY_STORAGE and keep string settings as text', async () => {
    const { settings } = await loadConfig({
      env: {
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: '1234',
        REGISTRY_STORAGE_S3_SECRETKEY: '0123',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: '127.0.0.1:7480',
        REGISTRY_STORAGE_S3_SECURE: 'false',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      },
    });
    expect(settings?.storage).toMatchObject({
      driver: 's3',
      bucket: '1234',
      secretKey: '0123',
      endpoint: 'http://127.0.0.1:7480',
      forcePathStyle: true,
      redirect: true,
    });
  });

  it('keep the server’s earlier variables working', async () => {
    const { settings, problems } = await loadConfig({
      env: {
        HOST: '0.0.0.0',
        PORT: '5001',
        WHARF_STORAGE: 's3',
        S3_ENDPOINT: 'http://127.0.0.1:7480',
        S3_BUCKET: 'images',
        S3_PREFIX: 'reg/',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
        WHARF_AUTH: 'token',
        WHARF_HTPASSWD: '/etc/wharf/htpasswd',
        WHARF_AUTH_REALM: 'https://registry.example/token',
        WHARF_AUTH_SERVICE: 'registry.example',
        WHARF_AUTH_ISSUER: 'issuer.example',
        WHARF_TOKEN_KEY: '/etc/wharf/key.pem',
        WHARF_TOKEN_TTL: '120',
        WHARF_AUTH_ANONYMOUS_PULL: 'yes',
        WHARF_AUTH_RULES: '/etc/wharf/rules.json',
        WHARF_AUTH_ADMINS: 'alice, bob',
        WHARF_AUTH_RATE_LIMIT: '5/30',
        WHARF_GC_INTERVAL: '1h',
        WHARF_GC_GRACE: '300000',
        WHARF_GC_DELETE_UNTAGGED: '1',
        WHARF_UPLOAD_MAX_AGE: '2d',
      },
    });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({
      http: { listen: { host: '0.0.0.0', port: 5001 } },
      storage: {
        driver: 's3',
        endpoint: 'http://127.0.0.1:7480',
        bucket: 'images',
        prefix: 'reg/',
        accessKey: 'id',
        secretKey: 'secret',
        forcePathStyle: true,
        redirect: false,
      },
      auth: {
        kind: 'issuer',
        htpasswd: '/etc/wharf/htpasswd',
        realm: 'https://registry.example/token',
        service: 'registry.example',
        issuer: 'issuer.example',
        key: '/etc/wharf/key.pem',
        ttlSeconds: 120,
      },
      access: {
        rules: '/etc/wharf/rules.json',
        admins: ['alice', 'bob'],
        anonymousPull: true,
        rateLimit: { attempts: 5, windowSeconds: 30 },
      },
      gc: { interval: 3600_000, gracePeriod: 300_000, deleteUntagged: true },
      uploadPurging: { maxAge: 2 * 86_400_000 },
      // As before the configuration file: deletes allowed.
      features: { deleteManifests: true, deleteTags: true, deleteBlobs: true },
    });
    const basic = await loadConfig({
      env: { WHARF_AUTH: 'basic', WHARF_HTPASSWD: '/h', WHARF_AUTH_RATE_LIMIT: '0' },
    });
    expect(basic.settings).toMatchObject({
      auth: { kind: 'basic', htpasswd: '/h', realm: 'wharf' },
      // What WHARF_AUTH always meant without WHARF_AUTH_RULES: users push only to their namespace.
      access: {
        rules: [
          { users: '*', actions: ['pull', 'catalog'] },
          { users: '*', repositories: '{user}/**', actions: ['push', 'delete'] },
        ],
      },
    });
    expect(basic.settings?.access.rateLimit).toBe(false);
  });

  it('name the variable of a bad value', async () => {
    const messages = async (env: NodeJS.ProcessEnv) =>
      (await loadConfig({ env })).problems.map((p) => `${p.source} ${p.message}`);
    expect(await messages({ WHARF_AUTH: 'ldap' })).toEqual([
      'env WHARF_AUTH must be none, basic or token, got "ldap"',
    ]);
    expect(await messages({ WHARF_AUTH: 'basic' })).toEqual([
      'env WHARF_AUTH WHARF_AUTH=basic needs WHARF_HTPASSWD',
    ]);
    expect(await messages({ WHARF_TOKEN_TTL: '-1' })).toEqual([
      'env WHARF_TOKEN_TTL must be a positive number of seconds',
    ]);
    expect(await messages({ WHARF_AUTH_RATE_LIMIT: 'many' })).toEqual([
      'env WHARF_AUTH_RATE_LIMIT must be attempts/seconds (e.g. 10/60) or 0, got "many"',
    ]);
    expect(await messages({ WHARF_AUTH_ANONYMOUS_PULL: 'maybe' })).toEqual([
      'env WHARF_AUTH_ANONYMOUS_PULL must be a boolean (true or false), got "maybe"',
    ]);
    expect(await messages({ REGISTRY_HTTP_ADDR: 'nowhere' })).toEqual([
      'env REGISTRY_HTTP_ADDR not an address: "nowhere" (try :5000 or 127.0.0.1:5000)',
    ]);
    expect(await messages({ REGISTRY_WHARF_GC_INTERVAL: 'often' })).toEqual([
      'env REGISTRY_WHARF_GC_INTERVAL must be a duration with a unit, such as 500ms, 90s, 15m, 1h30m or 7d',
    ]);
  });
});

describe('wharf config check', () => {
  it('prints every problem with its place and exits 1 on errors', async () => {
    const file = await temp.file(
      'check.yml',
      `storage:
  filesystem:
    rootdirectory: /srv
  redirect:
    disable: maybe
middleware:
  registry: []
`,
    );
    const result = await wharf(['config', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      `${file}:5:14: error: storage.redirect.disable: Invalid input: expected boolean, received string`,
      `${file}:6:1: warning: middleware: middleware (CloudFront, Redirect) is not supported`,
      `${file}: 1 error, 1 warning`,
      '',
    ]);
  });

  it('exits 0 for a good file, with notices', async () => {
    const file = await temp.file('good.yml', DEBIAN);
    const result = await wharf(['config', 'check', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('notice: storage.cache');
    expect(result.stdout).toContain(': 0 errors, 0 warnings');
  });

  it('reports a YAML syntax error and a missing file', async () => {
    const file = await temp.file('syntax.yml', 'http:\n  addr: [unclosed\n');
    const syntax = await wharf(['config', 'check', file]);
    expect(syntax.code).toBe(1);
    expect(syntax.stdout).toMatch(new RegExp(`^${file}:\\d+:\\d+: error: `));
    const missing = await wharf(['config', 'check', `${temp.dir}/nope.yml`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('cannot read the configuration file: no such file');
  });
});

describe('wharf serve with a bad configuration or a busy port', () => {
  it('prints one line per problem, no stack, and exits 2', async () => {
    const file = await temp.file('serve-bad.yml', 'storage:\n  s3:\n    region: eu\n');
    const result = await wharf(['serve', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`wharf: ${file}:2:3: error: storage.s3.bucket: required\n`);
    const env = await wharf(['serve'], { REGISTRY_STORAGE: 'azure' });
    expect(env.code).toBe(2);
    expect(env.stderr).toBe(
      'wharf: env REGISTRY_STORAGE: error: storage.azure: the azure driver is not supported: use filesystem, s3 or inmemory\n',
    );
  });

  it('warns about unsupported keys at start, and refuses a busy port with one line and exit 1', async () => {
    const file = await temp.file(
      'serve-warn.yml',
      `storage: { inmemory: {} }
http: { addr: '127.0.0.1:0', secret: s3cr3t-value }
validation: { disabled: true }
`,
    );
    const server = await serveConfig(file);
    try {
      const lines = logLines(server.output());
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          key: 'validation',
          msg: 'configuration: manifest URL validation is not supported',
        }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ level: 'info', key: 'http.secret' }));
      expect(server.output()).not.toContain('s3cr3t-value');
      const busy = await wharf(['serve'], { REGISTRY_HTTP_ADDR: server.host, REGISTRY_STORAGE: 'inmemory' });
      expect(busy.code).toBe(1);
      expect(busy.stderr).toBe(`wharf: cannot listen on ${server.host}: address already in use\n`);
    } finally {
      await server.stop();
    }
  });
});
