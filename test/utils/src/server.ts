import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The repository root (where `tsx` and the workspace live). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVER_MAIN = fileURLToPath(new URL('../../../packages/server/src/cli.ts', import.meta.url));

/** A registry server running in a child process that this test started. */
export interface ServerProcess {
  /** `http://127.0.0.1:<port>` (`https://` with TLS) */
  readonly url: string;
  /** `127.0.0.1:<port>`, for clients that take a host. */
  readonly host: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then wait for the exit. */
  kill(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Extra environment (WHARF_STORAGE, WHARF_ROOT, S3_*, …). `PORT` defaults to 0 (any free port). */
  readonly env?: Record<string, string | undefined>;
  /** The entry point; default the `wharf` command's source, `packages/server/src/cli.ts`. */
  readonly main?: string;
  /** Arguments after the entry point. */
  readonly args?: readonly string[];
  /** Working directory; default the repository root. */
  readonly cwd?: string;
  /** How long to wait for "listening"; default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * Starts the wharf server (from source) on a free loopback port and resolves once it prints
 * `wharf listening on …`.
 */
export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=@wharf/source', '--import', 'tsx', options.main ?? SERVER_MAIN, ...(options.args ?? [])],
    {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const check = (): void => {
      const match = /(?:listening|registry) on (https?:\/\/[^\s"]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url,
    host: url.replace(/^https?:\/\//, ''),
    pid: child.pid!,
    child,
    output: () => output,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}
