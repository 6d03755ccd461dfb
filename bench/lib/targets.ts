import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WORK = join(ROOT, 'bench', '.work');
/** When a run last removed {@link WORK} (see `settle.ts`). */
export const WORK_REMOVED = join(ROOT, 'bench', '.work-removed');

/** A server the benchmark started (and will stop, by PID). */
export interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /**
   * Removes a large blob's data after its sample (outside the timing): the page cache then stays
   * as empty as at the start, so later samples do not pay for reclaiming earlier ones' pages.
   */
  discard(digest: string): Promise<void>;
  stop(): Promise<void>;
}

/** Where a blob lives in distribution's filesystem layout (wharf's fs storage uses it too). */
export function layoutDiscarder(root: string): (digest: string) => Promise<void> {
  return async (digest) => {
    const [algorithm, hex] = digest.split(':') as [string, string];
    await rm(join(root, 'docker/registry/v2/blobs', algorithm, hex.slice(0, 2), hex), {
      recursive: true,
      force: true,
    });
  };
}

const keep = async (): Promise<void> => {};

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How to tell a server is ready: a line it prints (the URL is group 1), or a URL answering /v2/. */
type Ready = RegExp | { readonly url: string };

async function launch(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  ready: Ready,
  discard: (digest: string) => Promise<void> = keep,
): Promise<Target> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  const child: ChildProcess = spawn(command, args, {
    cwd: ROOT,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = ready instanceof RegExp ? ready.exec(output) : null;
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    if (!(ready instanceof RegExp)) {
      const poll = async (): Promise<void> => {
        try {
          if ((await fetch(`${ready.url}/v2/`)).ok) {
            clearTimeout(timer);
            resolve(ready.url);
            return;
          }
        } catch {
          // not yet
        }
        setTimeout(poll, 50);
      };
      void poll();
    }
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}):\n${output}`));
    });
  });
  // Keep draining so a chatty server never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    name,
    url,
    pid: child.pid!,
    discard,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** The wharf server: built output when present, else the TypeScript sources. */
export async function startWharf(
  name: string,
  env: Record<string, string>,
  discard?: (digest: string) => Promise<void>,
): Promise<Target> {
  const dist = join(ROOT, 'packages/server/dist/cli.js');
  const args = existsSync(dist)
    ? [dist]
    : ['--conditions=@wharf/source', '--import', 'tsx', join(ROOT, 'packages/server/src/cli.ts')];
  return launch(
    name,
    process.execPath,
    args,
    // Access log off, as in distribution's configuration below: a log line per request is a
    // large share of a HEAD's cost, and neither side should pay it in a comparison.
    { HOST: '127.0.0.1', PORT: '0', REGISTRY_LOG_ACCESSLOG_DISABLED: 'true', ...env },
    /wharf listening on (http:\/\/[^\s"]+)/,
    discard ?? (env.WHARF_STORAGE === 'fs' && env.WHARF_ROOT ? layoutDiscarder(env.WHARF_ROOT) : keep),
  );
}

export function hasDistribution(): boolean {
  return spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status === 0;
}

/** distribution's configuration: `storage` lines for one driver, its in-memory descriptor cache, no redirects. */
function distributionConfig(port: number, storage: string[]): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...storage.map((line) => `  ${line}`),
    '  delete:',
    '    enabled: true',
    '  redirect:',
    '    disable: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

async function launchDistribution(
  name: string,
  dir: string,
  storage: string[],
  discard: (digest: string) => Promise<void>,
  env: Record<string, string | undefined> = {},
): Promise<Target> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, `${name}.yml`);
  await writeFile(config, distributionConfig(port, storage));
  return launch(
    name,
    'docker-registry',
    ['serve', config],
    env,
    { url: `http://127.0.0.1:${port}` },
    discard,
  );
}

/** Debian's docker-registry (CNCF distribution 2.8) on a fresh filesystem root. */
export async function startDistributionFs(root: string): Promise<Target> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  return launchDistribution(
    'distribution-fs',
    join(root, '..'),
    ['filesystem:', `  rootdirectory: ${root}`],
    layoutDiscarder(root),
  );
}

/** The S3 server and credentials distribution's `s3-aws` driver is given. */
export interface S3Settings {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * docker-registry on an S3 bucket (the `s3-aws` driver, path-style requests to `endpoint`), the
 * peer of wharf-s3 on the same server. Its driver fails to start when `AWS_CA_BUNDLE` is set.
 */
export async function startDistributionS3(
  dir: string,
  s3: S3Settings,
  bucket: string,
  discard: (digest: string) => Promise<void>,
): Promise<Target> {
  return launchDistribution(
    'distribution-s3',
    dir,
    [
      's3:',
      `  accesskey: ${s3.accessKeyId}`,
      `  secretkey: ${s3.secretAccessKey}`,
      `  region: ${s3.region}`,
      `  regionendpoint: ${s3.endpoint}`,
      `  bucket: ${bucket}`,
      `  secure: ${s3.endpoint.startsWith('https:')}`,
      '  v4auth: true',
      '  rootdirectory: /',
    ],
    discard,
    { AWS_CA_BUNDLE: undefined },
  );
}

/**
 * A raw node:http baseline server (bench/raw/<script>.ts) with one argument. `discard` removes what
 * a PUT stored (the file put-server names by its digest, unless given).
 */
export async function startRaw(
  name: string,
  script: string,
  arg: string,
  discard?: (digest: string) => Promise<void>,
): Promise<Target> {
  return launch(
    name,
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/raw', script), arg],
    {},
    /raw listening on (http:\/\/\S+)/,
    discard ??
      (script === 'put-server.ts' ? (digest) => rm(join(arg, digest.split(':')[1]!), { force: true }) : keep),
  );
}
