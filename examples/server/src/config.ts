import { type AuthConfig, readAuthConfig } from './auth.js';

/** Which storage backend the server runs on. */
export type StorageKind = 'memory' | 'fs' | 's3';

/** S3 settings (`S3_*` variables). */
export interface S3Config {
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly accessKeyId: string | undefined;
  readonly secretAccessKey: string | undefined;
  readonly forcePathStyle: boolean;
  /** Answer blob GETs with a 307 to a presigned URL (`S3_REDIRECT`). */
  readonly redirect: boolean;
}

/** The server's configuration, read from the environment. */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly storage: StorageKind;
  /** Filesystem storage root (`WHARF_ROOT`). */
  readonly root: string;
  readonly s3: S3Config;
  /** Authentication (`WHARF_AUTH*`, `WHARF_HTPASSWD`, `WHARF_TOKEN_*`). */
  readonly auth: AuthConfig;
}

function bool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new Error(`expected a boolean, got ${JSON.stringify(value)}`);
}

/** Reads the configuration from the environment; throws a readable error for bad values. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = Number(env.PORT ?? 5000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, got ${env.PORT}`);
  const storage = env.WHARF_STORAGE ?? 'fs';
  if (storage !== 'memory' && storage !== 'fs' && storage !== 's3') {
    throw new Error(`WHARF_STORAGE must be memory, fs or s3, got ${JSON.stringify(storage)}`);
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    storage,
    root: env.WHARF_ROOT ?? './data',
    s3: {
      endpoint: env.S3_ENDPOINT || undefined,
      region: env.S3_REGION ?? 'us-east-1',
      bucket: env.S3_BUCKET ?? 'wharf',
      prefix: env.S3_PREFIX ?? '',
      accessKeyId: env.S3_ACCESS_KEY_ID || undefined,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY || undefined,
      forcePathStyle: bool(env.S3_FORCE_PATH_STYLE, true),
      redirect: bool(env.S3_REDIRECT, false),
    },
    auth: readAuthConfig(env),
  };
}
