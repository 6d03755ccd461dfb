import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, type ServerProcess, startServer } from '@wharf/test-utils';

export { freePort } from '@wharf/test-utils';

/** The `wharf` command's entry point (run from source). */
export const CLI = join(REPO_ROOT, 'packages/server/src/cli.ts');

/** Variables the server reads that a developer's shell may have set: cleared for each test. */
const CLEARED = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => /^(REGISTRY_|WHARF_)/.test(name) || name === 'HOST' || name === 'PORT')
    .map((name) => [name, undefined]),
);

/** The outcome of one `wharf …` run. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `wharf <args>` to completion. */
export function wharf(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@wharf/source', '--import', 'tsx', CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...CLEARED, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temporary directory this test owns. */
export interface TempDir {
  readonly dir: string;
  file(name: string, content: string | Buffer): Promise<string>;
  remove(): Promise<void>;
}

export async function tempDir(prefix = 'wharf-server-'): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    async file(name, content) {
      const path = join(dir, name);
      await writeFile(path, content);
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Starts `wharf serve <config>` with a configuration file (and nothing from the shell's variables);
 * `main`: the command's entry point, the sources by default.
 */
export function serveConfig(
  config: string,
  env: Record<string, string | undefined> = {},
  args: readonly string[] = [],
  main?: string,
): Promise<ServerProcess> {
  // Not even the helper's own HOST and PORT: the file says where to listen.
  return startServer({
    args: ['serve', config, ...args],
    env: { ...CLEARED, HOST: undefined, PORT: undefined, ...env },
    ...(main === undefined ? {} : { main }),
  });
}

/** Parses the JSON log lines of a server's output (other lines are skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Fetches the debug server's metrics and returns the value of one sample (0 when absent). */
export async function metric(
  debugUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${debugUrl}/metrics`)).text();
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) {
      total += Number(match[3]);
      found = true;
    }
  }
  return found ? total : 0;
}

/** The debug URL a server logged at start. */
export function debugUrlOf(server: ServerProcess): string {
  const line = logLines(server.output()).find((entry) => typeof entry.debug === 'string');
  if (!line) throw new Error(`the server logged no debug address:\n${server.output()}`);
  return line.debug as string;
}
