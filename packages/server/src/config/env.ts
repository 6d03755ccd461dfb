import { parse as parseYaml } from 'yaml';
import { deletePath, getPath, hasPath, isObject, type RawObject, setPath } from './paths.js';

/** The storage drivers wharf serves from. */
export const DRIVERS = ['filesystem', 's3', 'inmemory'] as const;

/** What the environment changed: each configuration path and the variable that set it. */
export type EnvOrigins = Map<string, string>;

/** A problem with an environment variable. */
export interface EnvProblem {
  readonly variable: string;
  readonly message: string;
  /** Default `error`. */
  readonly severity?: 'error' | 'warning';
}

/** Applies the value to `path`, remembering the variable. */
function put(raw: RawObject, origins: EnvOrigins, variable: string, path: string[], value: unknown): void {
  setPath(raw, path, value);
  origins.set(path.join('.'), variable);
}

/** Keeps exactly one storage driver: `driver`. */
function selectDriver(raw: RawObject, origins: EnvOrigins, variable: string, driver: string): void {
  const storage = isObject(raw.storage) ? raw.storage : {};
  const current = isObject(storage[driver]) ? storage[driver] : {};
  for (const other of DRIVERS) if (other !== driver) deletePath(raw, ['storage', other]);
  put(raw, origins, variable, ['storage', driver], current);
}

/** The one driver configured so far, if exactly one. */
export function driverOf(raw: RawObject): string | undefined {
  const storage = raw.storage;
  if (!isObject(storage)) return undefined;
  const present = DRIVERS.filter((driver) => Object.hasOwn(storage, driver));
  return present.length === 1 ? present[0] : undefined;
}

/** Whether any storage driver key is present (the implicit default is added after the environment). */
function hasDriver(raw: RawObject): boolean {
  const storage = raw.storage;
  return isObject(storage) && Object.keys(storage).some((key) => !STORAGE_SETTINGS.has(key));
}

/** `storage` keys that are not drivers. */
export const STORAGE_SETTINGS = new Set(['delete', 'redirect', 'maintenance', 'cache', 'tag']);

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

function flag(variable: string, value: string, problems: EnvProblem[]): boolean | undefined {
  if (TRUE.test(value)) return true;
  if (FALSE.test(value)) return false;
  problems.push({ variable, message: `must be a boolean (true or false), got ${JSON.stringify(value)}` });
  return undefined;
}

/** Legacy durations were milliseconds when written without a unit. */
function legacyDuration(value: string): string {
  return /^\d+(?:\.\d+)?$/.test(value.trim()) ? `${value.trim()}ms` : value;
}

/** One legacy variable: how it reads into the configuration. */
interface LegacyVariable {
  readonly name: string;
  /** The configuration key it sets, for the README. */
  readonly setting: string;
  apply(
    value: string,
    raw: RawObject,
    set: (path: string[], value: unknown) => void,
    problems: EnvProblem[],
  ): void;
}

function splitAddr(addr: string): { host: string; port: string } {
  const match = /^(.*):(\d*)$/.exec(addr);
  return match ? { host: match[1]!, port: match[2]! } : { host: addr, port: '5000' };
}

const s3Key = (name: string, key: string, setting = `storage.s3.${key}`): LegacyVariable => ({
  name,
  setting,
  apply: (value, raw, set) => {
    if (driverOf(raw) === 's3') set(['storage', 's3', key], value);
  },
});

/**
 * The variables the server read before it had a configuration file. They keep working; each sets
 * the key shown, and `REGISTRY_*` variables override them.
 */
export const LEGACY_VARIABLES: readonly LegacyVariable[] = [
  {
    name: 'HOST',
    setting: 'http.addr (host)',
    apply: (value, raw, set) => {
      const { port } = splitAddr(String(getPath(raw, ['http', 'addr']) ?? '127.0.0.1:5000'));
      set(['http', 'addr'], `${value.includes(':') ? `[${value}]` : value}:${port}`);
    },
  },
  {
    name: 'PORT',
    setting: 'http.addr (port)',
    apply: (value, raw, set, problems) => {
      if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
        problems.push({ variable: 'PORT', message: `must be a port number, got ${JSON.stringify(value)}` });
        return;
      }
      const { host } = splitAddr(String(getPath(raw, ['http', 'addr']) ?? '127.0.0.1:5000'));
      set(['http', 'addr'], `${host}:${value}`);
    },
  },
  {
    name: 'WHARF_STORAGE',
    setting: 'storage (`fs` → filesystem, `s3`, `memory` → inmemory)',
    apply: () => {
      // Applied first, by applyLegacyVariables.
    },
  },
  {
    name: 'WHARF_ROOT',
    setting: 'storage.filesystem.rootdirectory',
    apply: (value, raw, set) => {
      const driver = driverOf(raw);
      if (driver === 'filesystem' || (driver === undefined && !hasDriver(raw)))
        set(['storage', 'filesystem', 'rootdirectory'], value);
    },
  },
  s3Key('S3_ENDPOINT', 'regionendpoint'),
  s3Key('S3_REGION', 'region'),
  s3Key('S3_BUCKET', 'bucket'),
  s3Key('S3_PREFIX', 'rootdirectory'),
  s3Key('S3_ACCESS_KEY_ID', 'accesskey'),
  s3Key('S3_SECRET_ACCESS_KEY', 'secretkey'),
  {
    name: 'S3_FORCE_PATH_STYLE',
    setting: 'storage.s3.forcepathstyle',
    apply: (value, raw, set, problems) => {
      const on = flag('S3_FORCE_PATH_STYLE', value, problems);
      if (on !== undefined && driverOf(raw) === 's3') set(['storage', 's3', 'forcepathstyle'], on);
    },
  },
  {
    name: 'S3_REDIRECT',
    setting: 'storage.redirect.disable (negated)',
    apply: (value, _raw, set, problems) => {
      const on = flag('S3_REDIRECT', value, problems);
      if (on !== undefined) set(['storage', 'redirect', 'disable'], !on);
    },
  },
  {
    name: 'WHARF_AUTH',
    setting: '`basic` → auth.htpasswd, `token` → wharf.auth.token, `none`',
    apply: () => {
      // Applied with WHARF_HTPASSWD, by applyLegacyVariables.
    },
  },
  {
    name: 'WHARF_HTPASSWD',
    setting: 'auth.htpasswd.path or wharf.auth.token.htpasswd',
    apply: () => {},
  },
  {
    name: 'WHARF_AUTH_REALM',
    setting: 'auth.htpasswd.realm or wharf.auth.token.realm',
    apply: (value, raw, set) => {
      if (isObject(getPath(raw, ['auth', 'htpasswd']))) set(['auth', 'htpasswd', 'realm'], value);
      if (isObject(getPath(raw, ['wharf', 'auth', 'token']))) set(['wharf', 'auth', 'token', 'realm'], value);
    },
  },
  {
    name: 'WHARF_AUTH_SERVICE',
    setting: 'wharf.auth.token.service',
    apply: (value, raw, set) => {
      if (isObject(getPath(raw, ['wharf', 'auth', 'token'])))
        set(['wharf', 'auth', 'token', 'service'], value);
    },
  },
  {
    name: 'WHARF_AUTH_ISSUER',
    setting: 'wharf.auth.token.issuer',
    apply: (value, raw, set) => {
      if (isObject(getPath(raw, ['wharf', 'auth', 'token'])))
        set(['wharf', 'auth', 'token', 'issuer'], value);
    },
  },
  {
    name: 'WHARF_TOKEN_KEY',
    setting: 'wharf.auth.token.key',
    apply: (value, raw, set) => {
      if (isObject(getPath(raw, ['wharf', 'auth', 'token']))) set(['wharf', 'auth', 'token', 'key'], value);
    },
  },
  {
    name: 'WHARF_TOKEN_TTL',
    setting: 'wharf.auth.token.ttl (seconds)',
    apply: (value, raw, set, problems) => {
      if (!/^\d+$/.test(value) || Number(value) <= 0) {
        problems.push({ variable: 'WHARF_TOKEN_TTL', message: 'must be a positive number of seconds' });
        return;
      }
      if (isObject(getPath(raw, ['wharf', 'auth', 'token'])))
        set(['wharf', 'auth', 'token', 'ttl'], `${value}s`);
    },
  },
  {
    name: 'WHARF_AUTH_ANONYMOUS_PULL',
    setting: 'wharf.auth.anonymouspull',
    apply: (value, _raw, set, problems) => {
      const on = flag('WHARF_AUTH_ANONYMOUS_PULL', value, problems);
      if (on !== undefined) set(['wharf', 'auth', 'anonymouspull'], on);
    },
  },
  {
    name: 'WHARF_AUTH_RULES',
    setting: 'wharf.auth.rules (a JSON file, or inline JSON starting with `[`)',
    apply: (value, _raw, set, problems) => {
      if (!value.trimStart().startsWith('[')) {
        set(['wharf', 'auth', 'rules'], value);
        return;
      }
      try {
        set(['wharf', 'auth', 'rules'], JSON.parse(value));
      } catch (error) {
        problems.push({
          variable: 'WHARF_AUTH_RULES',
          message: `not valid JSON: ${(error as Error).message}`,
        });
      }
    },
  },
  {
    name: 'WHARF_AUTH_ADMINS',
    setting: 'wharf.auth.admins (comma-separated)',
    apply: (value, _raw, set) =>
      set(
        ['wharf', 'auth', 'admins'],
        value
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean),
      ),
  },
  {
    name: 'WHARF_AUTH_RATE_LIMIT',
    setting: 'wharf.auth.ratelimit (`attempts/seconds`, `0` disables)',
    apply: (value, _raw, set, problems) => {
      if (value === '0') {
        set(['wharf', 'auth', 'ratelimit'], false);
        return;
      }
      const match = /^(\d+)(?:\/(\d+))?$/.exec(value);
      if (!match || Number(match[1]) <= 0 || Number(match[2] ?? 60) <= 0) {
        problems.push({
          variable: 'WHARF_AUTH_RATE_LIMIT',
          message: `must be attempts/seconds (e.g. 10/60) or 0, got ${JSON.stringify(value)}`,
        });
        return;
      }
      set(['wharf', 'auth', 'ratelimit'], { attempts: Number(match[1]), window: `${match[2] ?? 60}s` });
    },
  },
  {
    name: 'WHARF_GC_INTERVAL',
    setting: 'wharf.gc.interval',
    apply: (value, _raw, set) => set(['wharf', 'gc', 'interval'], legacyDuration(value)),
  },
  {
    name: 'WHARF_GC_GRACE',
    setting: 'wharf.gc.graceperiod',
    apply: (value, _raw, set) => set(['wharf', 'gc', 'graceperiod'], legacyDuration(value)),
  },
  {
    name: 'WHARF_GC_DELETE_UNTAGGED',
    setting: 'wharf.gc.deleteuntagged',
    apply: (value, _raw, set, problems) => {
      const on = flag('WHARF_GC_DELETE_UNTAGGED', value, problems);
      if (on !== undefined) set(['wharf', 'gc', 'deleteuntagged'], on);
    },
  },
  {
    name: 'WHARF_UPLOAD_MAX_AGE',
    setting: 'storage.maintenance.uploadpurging.age',
    apply: (value, _raw, set) =>
      set(['storage', 'maintenance', 'uploadpurging', 'age'], legacyDuration(value)),
  },
];

/** The access rules of `WHARF_AUTH=basic|token` without `WHARF_AUTH_RULES`. */
export const LEGACY_RULES = [
  { users: '*', actions: ['pull', 'catalog'] },
  { users: '*', repositories: '{user}/**', actions: ['push', 'delete'] },
];

const LEGACY_DRIVERS: Record<string, string> = { fs: 'filesystem', s3: 's3', memory: 'inmemory' };

/** Applies the legacy variables (see {@link LEGACY_VARIABLES}) to `raw`. */
export function applyLegacyVariables(
  raw: RawObject,
  env: NodeJS.ProcessEnv,
  origins: EnvOrigins,
  problems: EnvProblem[],
): void {
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const storage = value('WHARF_STORAGE');
  if (storage !== undefined) {
    const driver = LEGACY_DRIVERS[storage];
    if (!driver) {
      problems.push({
        variable: 'WHARF_STORAGE',
        message: `must be fs, s3 or memory, got ${JSON.stringify(storage)}`,
      });
    } else {
      selectDriver(raw, origins, 'WHARF_STORAGE', driver);
      // The server allowed deletes when it was configured by these variables.
      if (getPath(raw, ['storage', 'delete', 'enabled']) === undefined) {
        put(raw, origins, 'WHARF_STORAGE', ['storage', 'delete', 'enabled'], true);
      }
      if (driver === 's3') {
        // The defaults the variables had: path-style addressing, no redirects, bucket "wharf".
        const s3 = getPath(raw, ['storage', 's3']) as RawObject;
        s3.bucket ??= 'wharf';
        s3.forcepathstyle ??= true;
        const redirect = getPath(raw, ['storage', 'redirect']);
        if (!isObject(redirect) || redirect.disable === undefined)
          setPath(raw, ['storage', 'redirect', 'disable'], true);
      }
    }
  }
  const auth = value('WHARF_AUTH');
  if (auth !== undefined) {
    const htpasswd = value('WHARF_HTPASSWD');
    if (auth !== 'none' && auth !== 'basic' && auth !== 'token') {
      problems.push({
        variable: 'WHARF_AUTH',
        message: `must be none, basic or token, got ${JSON.stringify(auth)}`,
      });
    } else if (auth !== 'none' && htpasswd === undefined) {
      problems.push({ variable: 'WHARF_AUTH', message: `WHARF_AUTH=${auth} needs WHARF_HTPASSWD` });
    } else {
      deletePath(raw, ['auth']);
      deletePath(raw, ['wharf', 'auth', 'token']);
      if (auth === 'basic')
        put(raw, origins, 'WHARF_AUTH', ['auth', 'htpasswd'], { path: htpasswd, realm: 'wharf' });
      if (auth === 'token') put(raw, origins, 'WHARF_AUTH', ['wharf', 'auth', 'token'], { htpasswd });
      // What these variables always meant: everyone pulls, users push to their own namespace.
      if (auth !== 'none') put(raw, origins, 'WHARF_AUTH', ['wharf', 'auth', 'rules'], LEGACY_RULES);
    }
  }
  for (const variable of LEGACY_VARIABLES) {
    const text = value(variable.name);
    if (text === undefined) continue;
    variable.apply(text, raw, (path, v) => put(raw, origins, variable.name, path, v), problems);
  }
}

/** Whether the schema expects a string at `path` (so an environment value is not parsed as YAML). */
export type StringAt = (path: readonly string[]) => boolean;

/**
 * Applies `REGISTRY_*` variables, distribution's rule: the configuration path's keys upper-cased
 * and joined by `_` after `REGISTRY_` (`REGISTRY_STORAGE_S3_BUCKET` sets `storage.s3.bucket`). The
 * value is read as YAML (`true`, `10`, `[a, b]`), except for settings that are strings.
 * `REGISTRY_STORAGE=<driver>` and `REGISTRY_AUTH=<kind>` choose the storage driver or the
 * authentication.
 */
export function applyRegistryVariables(
  raw: RawObject,
  env: NodeJS.ProcessEnv,
  origins: EnvOrigins,
  stringAt: StringAt,
  problems: EnvProblem[],
): void {
  const names = Object.keys(env)
    .filter((name) => name.startsWith('REGISTRY_') && env[name] !== undefined)
    // Sections before their keys: REGISTRY_STORAGE=s3 before REGISTRY_STORAGE_S3_BUCKET.
    .sort((a, b) => a.length - b.length);
  for (const name of names) {
    const value = env[name]!;
    const path = name.slice('REGISTRY_'.length).toLowerCase().split('_');
    if (path.some((key) => key === '') || name === 'REGISTRY_CONFIGURATION_PATH') continue;
    if (path.length === 1 && path[0] === 'storage') {
      selectDriver(raw, origins, name, value);
      continue;
    }
    if (path.length === 1 && path[0] === 'auth') {
      put(raw, origins, name, ['auth'], {
        [value]: isObject(getPath(raw, ['auth', value])) ? getPath(raw, ['auth', value]) : {},
      });
      continue;
    }
    const driver =
      path[0] === 'storage' && path.length > 2 && !STORAGE_SETTINGS.has(path[1]!) ? path[1]! : undefined;
    if (driver !== undefined && hasDriver(raw) && !hasPath(raw, ['storage', driver])) {
      problems.push({
        variable: name,
        message: `ignored: the storage driver is not ${driver}`,
        severity: 'warning',
      });
      continue;
    }
    put(raw, origins, name, path, stringAt(path) ? value : parseScalar(value));
  }
}

function parseScalar(value: string): unknown {
  try {
    return parseYaml(value, { version: '1.1' }) ?? value;
  } catch {
    return value;
  }
}
