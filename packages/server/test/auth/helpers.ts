import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { hashPassword } from '@wharf/auth';
import { OciClient, run, withAuthorization } from '@wharf/test-utils';

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
export function execOk(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<{ stdout: string; stderr: string }> {
  return run(command, args, { env, timeoutMs: 180_000, ...(cwd === undefined ? {} : { cwd }) });
}

/** Client tools' private state, shared with the other end-to-end suites. */
export { scratch } from '@wharf/test-utils';

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
  return new OciClient(url, withAuthorization(authorization));
}
