import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type FetchLike,
  OciClient,
  run,
  s3Env,
  scratch as scratchDir,
  startServer,
  withAuthorization,
} from '@wharf/test-utils';
import { removeBucket } from '@wharf/test-utils/s3';

const EXPRESS_APP_MAIN = fileURLToPath(
  new URL('../../../../examples/express-app/src/main.ts', import.meta.url),
);

/** Where a server keeps its data: the environment it gets, and how to clean up after it. */
export interface StorageCase {
  readonly name: string;
  prepare(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

const BACKENDS: Record<string, StorageCase> = {
  memory: {
    name: 'memory',
    prepare: async () => ({ env: { WHARF_STORAGE: 'memory' }, cleanup: async () => {} }),
  },
  fs: {
    name: 'fs',
    prepare: async () => {
      const root = await mkdtemp(join(tmpdir(), 'wharf-e2e-fs-'));
      return {
        env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root },
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  s3: {
    name: 's3',
    prepare: async () => {
      const env = s3Env();
      if (!env) throw new Error('the s3 storage case needs S3_ENDPOINT and credentials');
      // A bucket of its own, which the server creates and this case removes with all it holds.
      const bucket = `wharf-e2e-${randomBytes(6).toString('hex')}`;
      return {
        env: {
          WHARF_STORAGE: 's3',
          S3_ENDPOINT: env.endpoint,
          S3_REGION: env.region,
          S3_ACCESS_KEY_ID: env.accessKeyId,
          S3_SECRET_ACCESS_KEY: env.secretAccessKey,
          S3_BUCKET: bucket,
          S3_PREFIX: 'e2e/',
        },
        cleanup: () => removeBucket(env, bucket),
      };
    },
  },
};

/**
 * The storage backends the suites run on: `WHARF_E2E_STORAGES` (comma-separated names of
 * {@link BACKENDS}), in-memory by default.
 */
export const STORAGES: readonly StorageCase[] = (process.env.WHARF_E2E_STORAGES ?? 'memory')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean)
  .map((name) => {
    const backend = BACKENDS[name];
    if (!backend) throw new Error(`WHARF_E2E_STORAGES: unknown storage ${JSON.stringify(name)}`);
    return backend;
  });

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** A registry under test, running in a child process. */
export interface RunningTarget {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly url: string;
  /** Where the suites may push: `<namespace>/<name>`. */
  readonly namespace: string;
  /** Required for every request, when set. */
  readonly credentials: Credentials | undefined;
  /** Another user, who may pull but not push to `namespace`. */
  readonly otherUser: Credentials | undefined;
  /** An OCI client with the credentials (if any). */
  client(): OciClient;
  /** Everything the server printed so far (its errors, for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/** A way to serve a registry: the wharf server, or the Express app. */
export interface Target {
  readonly name: string;
  /** Whether it requires credentials (and has a second user). */
  readonly authenticated: boolean;
  start(storage: StorageCase): Promise<RunningTarget>;
}

function authorizedFetch(credentials: Credentials | undefined): FetchLike {
  if (!credentials) return (input, init) => fetch(input, init);
  return withAuthorization(
    `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`,
  );
}

async function launch(
  storage: StorageCase,
  main: string | undefined,
  extraEnv: Record<string, string>,
  namespace: string,
  credentials?: Credentials,
  otherUser?: Credentials,
): Promise<RunningTarget> {
  const { env, cleanup } = await storage.prepare();
  try {
    const server = await startServer({ ...(main ? { main } : {}), env: { ...env, ...extraEnv } });
    return {
      host: server.host,
      url: server.url,
      namespace,
      credentials,
      otherUser,
      client: () => new OciClient(server.url, authorizedFetch(credentials)),
      output: () => server.output(),
      stop: async () => {
        await server.stop();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export const TARGETS: readonly Target[] = [
  {
    name: 'wharf server',
    authenticated: false,
    start: (storage) => launch(storage, undefined, {}, 'e2e'),
  },
  {
    name: 'examples/express-app',
    authenticated: true,
    start: (storage) => {
      const user = { user: 'ci', password: randomBytes(12).toString('hex') };
      const other = { user: 'other', password: randomBytes(12).toString('hex') };
      const users = `${user.user}:${user.password},${other.user}:${other.password}`;
      return launch(storage, EXPRESS_APP_MAIN, { EXPRESS_APP_USERS: users }, user.user, user, other);
    },
  },
];

/** Every target on every storage backend. */
export const CASES = TARGETS.flatMap((target) =>
  STORAGES.map((storage) => ({
    name: `${target.name} on ${storage.name}`,
    authenticated: target.authenticated,
    start: () => target.start(storage),
  })),
);

/** A client tool's private state: a scratch directory and the environment that points into it. */
export interface Scratch {
  readonly dir: string;
  readonly env: Record<string, string>;
  /**
   * Runs skopeo or podman with its state kept in the scratch directory. A failure's message ends
   * with what `server` printed, if given.
   */
  run(
    command: string,
    args: readonly string[],
    server?: RunningTarget,
  ): Promise<{ stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

/**
 * As root, containers/image keeps its blob-info cache in `/var/lib/containers/cache` whatever the
 * environment says. Where a private mount namespace is available, that directory is replaced by
 * one inside the scratch directory for the tool's lifetime.
 */
const SYSTEM_CACHE = '/var/lib/containers/cache';
const privateMounts =
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' }).status === 0;

/** A private scratch directory with the environment that keeps a client tool's state inside it. */
export async function scratch(prefix: string): Promise<Scratch> {
  const { dir, env, remove } = await scratchDir(prefix);
  const cache = join(dir, 'system-cache');
  await mkdir(cache).catch(async (error: unknown) => {
    await remove();
    throw error;
  });
  return {
    dir,
    env,
    run: async (command, args, server) => {
      try {
        return privateMounts
          ? await run(
              'unshare',
              [
                '--mount',
                '--propagation',
                'private',
                '--',
                'sh',
                '-c',
                `mkdir -p ${SYSTEM_CACHE} && mount --bind "$0" ${SYSTEM_CACHE} && exec "$@"`,
                cache,
                command,
                ...args,
              ],
              { env, timeoutMs: 180_000 },
            )
          : await run(command, args, { env, timeoutMs: 180_000 });
      } catch (error) {
        if (!server) throw error;
        throw new Error(
          `${(error as Error).message}\n--- server output ---\n${server.output().slice(-4000)}`,
        );
      }
    },
    remove,
  };
}
