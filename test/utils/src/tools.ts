import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Whether an external program (skopeo, podman, docker-registry, radosgw…) is installed. Tests
 * that need one skip without it on a developer machine; CI sets `WHARF_E2E_REQUIRED=1` so a
 * missing tool fails the run instead of silently skipping.
 */
export function hasTool(name: string): boolean {
  const found =
    spawnSync('sh', ['-c', `command -v ${JSON.stringify(name)}`], { stdio: 'ignore' }).status === 0;
  if (!found && process.env.WHARF_E2E_REQUIRED === '1') {
    throw new Error(`${name} is required (WHARF_E2E_REQUIRED=1) but not installed`);
  }
  return found;
}

/** The S3 endpoint the tests may use (set by the global setup or the environment), if any. */
export function s3Env():
  | { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string }
  | undefined {
  const { S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    if (process.env.WHARF_E2E_REQUIRED === '1')
      throw new Error('an S3 endpoint is required (WHARF_E2E_REQUIRED=1)');
    return undefined;
  }
  return {
    endpoint: S3_ENDPOINT,
    region: S3_REGION ?? 'us-east-1',
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
  };
}

/** Runs a program to completion; rejects with its output when it exits non-zero. */
export async function run(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** The environment that confines a client tool (skopeo, podman…) to a {@link scratch} directory. */
export type ScratchEnv = Record<
  | 'HOME'
  | 'XDG_RUNTIME_DIR'
  | 'XDG_CONFIG_HOME'
  | 'XDG_DATA_HOME'
  | 'XDG_CACHE_HOME'
  | 'TMPDIR'
  | 'REGISTRY_AUTH_FILE',
  string
>;

/** A private scratch directory made by {@link scratch}. */
export interface ScratchDir {
  readonly dir: string;
  /** Pass it to the tool: its home, config, credentials and temporary files stay in `dir`. */
  readonly env: ScratchEnv;
  /** Removes the directory and everything in it. */
  remove(): Promise<void>;
}

/**
 * Creates a private (mode 0700) scratch directory under the system's temporary directory, named
 * `prefix` plus a random suffix, and the environment that keeps a client tool's state inside it.
 */
export async function scratch(prefix: string): Promise<ScratchDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const remove = () => rm(dir, { recursive: true, force: true });
  const env: ScratchEnv = {
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    TMPDIR: join(dir, 'tmp'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
  };
  try {
    for (const path of Object.values(env))
      if (!path.endsWith('.json')) await mkdir(path, { recursive: true, mode: 0o700 });
    // Podman refuses to run with an auth file that does not exist.
    await writeFile(env.REGISTRY_AUTH_FILE, '{"auths":{}}\n');
  } catch (error) {
    await remove();
    throw error;
  }
  return { dir, env, remove };
}

/**
 * A loopback port that was free a moment ago, for programs that cannot listen on port 0 and say
 * which port they got (docker-registry, for one). Tests that listen themselves use port 0.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
