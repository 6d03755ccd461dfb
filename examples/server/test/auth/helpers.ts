import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { hashPassword } from '@wharf/auth';
import { OciClient } from '@wharf/test-utils';

/** The users of the auth end-to-end tests, with random passwords. */
export const USERS = {
  alice: randomBytes(12).toString('base64url'),
  bob: randomBytes(12).toString('base64url'),
} as const;

export type User = keyof typeof USERS;

/** Writes an htpasswd file for {@link USERS} (bcrypt, low cost to keep tests fast). */
export async function writeHtpasswd(path: string): Promise<void> {
  const lines = await Promise.all(
    Object.entries(USERS).map(async ([user, password]) => `${user}:${await hashPassword(password, 5)}`),
  );
  await writeFile(path, `${lines.join('\n')}\n`);
}

/** The outcome of a client command, whatever its exit status. */
export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program and resolves with its exit status and output (never rejects on failure). */
export function exec(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        env: { ...process.env, ...env },
        timeout: 180_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(cwd === undefined ? {} : { cwd }),
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a program and rejects (with its output) unless it succeeds. */
export async function execOk(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Outcome> {
  const outcome = await exec(command, args, env, cwd);
  if (outcome.code !== 0) {
    throw new Error(`${command} ${args[0]} exited ${outcome.code}:\n${outcome.stdout}\n${outcome.stderr}`);
  }
  return outcome;
}

/** The environment of a client tool confined to a scratch directory. */
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

/**
 * A private scratch directory and the environment that keeps a client tool's state (home, config,
 * credentials, temporary files) inside it.
 */
export async function scratch(
  prefix: string,
): Promise<{ dir: string; env: ScratchEnv; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const env: ScratchEnv = {
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    TMPDIR: join(dir, 'tmp'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
  };
  for (const path of Object.values(env))
    if (!path.endsWith('.json')) await mkdir(path, { recursive: true, mode: 0o700 });
  // podman insists that a configured auth file exists.
  await writeFile(env.REGISTRY_AUTH_FILE, '{"auths":{}}\n');
  return { dir, env, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under `root`, relative to it, sorted: a snapshot of what storage holds. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** An API client acting as `user` against a server in `mode` (Basic, or a token for `scopes`). */
export async function apiClient(
  url: string,
  mode: 'basic' | 'token',
  user: User,
  scopes: readonly string[],
): Promise<OciClient> {
  const basic = `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString('base64')}`;
  let authorization = basic;
  if (mode === 'token') {
    const query = new URLSearchParams({ service: 'wharf' });
    for (const scope of scopes) query.append('scope', scope);
    const res = await fetch(`${url}/token?${query}`, { headers: { Authorization: basic } });
    if (res.status !== 200) throw new Error(`token request answered ${res.status}`);
    authorization = `Bearer ${((await res.json()) as { token: string }).token}`;
  }
  return new OciClient(url, (input, init) =>
    fetch(input, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), Authorization: authorization },
    }),
  );
}
