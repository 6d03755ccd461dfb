import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { hasTool, run, type ScratchDir, scratch } from '@wharf/test-utils';

/**
 * Whether a private Docker daemon can run here: `dockerd` and the `docker` CLI installed, and root
 * (dockerd needs it). Without them the docker tests skip, unless `WHARF_E2E_REQUIRED=1`.
 */
export function canRunDockerd(): boolean {
  if (!hasTool('dockerd') || !hasTool('docker')) return false;
  if (process.getuid?.() === 0) return true;
  if (process.env.WHARF_E2E_REQUIRED === '1') {
    throw new Error('dockerd must run as root (WHARF_E2E_REQUIRED=1)');
  }
  return false;
}

/** A Docker daemon of the test's own, and the CLI pointed at it. */
export interface PrivateDocker {
  /** Runs the docker CLI against this daemon with its own config directory. */
  docker(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<DockerRun>;
  /** Stops the daemon (by its pid) and removes every file it wrote. */
  stop(): Promise<void>;
}

/** The outcome of one docker CLI run, failed or not. */
export interface DockerRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Answers once the daemon's API responds on its socket. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/**
 * Starts `dockerd` with all of its state inside a scratch directory: data root (vfs, which needs
 * no kernel overlay support), exec root with its own containerd, pid file, unix socket and an empty
 * daemon configuration. No bridge, no iptables rules: nothing on the host changes. `registries`
 * are the loopback `host:port`s it may reach over plain HTTP.
 */
export async function startDockerd(registries: readonly string[]): Promise<PrivateDocker> {
  const work: ScratchDir = await scratch('wharf-e2e-docker-');
  const socket = join(work.dir, 'docker.sock');
  const configDir = join(work.dir, 'docker-config');
  const daemonConfig = join(work.dir, 'daemon.json');
  let child: ChildProcess | undefined;
  try {
    await mkdir(configDir, { recursive: true, mode: 0o700 });
    await writeFile(daemonConfig, '{}\n');
    child = spawn(
      'dockerd',
      [
        `--data-root=${join(work.dir, 'data')}`,
        `--exec-root=${join(work.dir, 'exec')}`,
        `--pidfile=${join(work.dir, 'docker.pid')}`,
        `--host=unix://${socket}`,
        `--config-file=${daemonConfig}`,
        '--containerd-namespace=wharf-e2e',
        '--containerd-plugins-namespace=wharf-e2e-plugins',
        '--storage-driver=vfs',
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--log-level=warn',
        ...registries.map((r) => `--insecure-registry=${r}`),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...work.env } },
    );
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-20_000);
    });
    const deadline = Date.now() + 60_000;
    while (!(await ping(socket))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`dockerd did not start:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    child?.kill('SIGKILL');
    if (child) await exited(child);
    await work.remove();
    throw error;
  }
  const daemon = child;
  const env = { ...work.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir };

  return {
    async docker(args, options = {}) {
      if (options.input !== undefined) {
        // `--password-stdin` reads from a pipe; `run` has no stdin, so go through a file.
        const inputFile = join(work.dir, 'stdin');
        await writeFile(inputFile, options.input, { mode: 0o600 });
        return dockerOutcome(
          'sh',
          ['-c', 'exec docker "$@" < "$0"', inputFile, ...args],
          env,
          options.timeoutMs,
        );
      }
      return dockerOutcome('docker', args, env, options.timeoutMs);
    },
    async stop() {
      // SIGTERM to the daemon this test started (its managed containerd stops with it).
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 20_000);
      await exited(daemon);
      clearTimeout(timer);
      await work.remove();
    },
  };
}

async function dockerOutcome(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<DockerRun> {
  try {
    const { stdout, stderr } = await run(command, args, { env, timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: 1, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
  }
}
