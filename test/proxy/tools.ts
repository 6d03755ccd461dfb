import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '@wharf/auth';
import type { UpstreamOptions } from '@wharf/core';
import {
  type RealImage,
  run,
  type ScratchDir,
  type ServerProcess,
  startServer,
  writeOciLayout,
} from '@wharf/test-utils';
import { type DistributionRegistry, startDistribution } from '../../packages/storage-fs/test/helpers.js';

/**
 * As root, containers/image keeps its blob-info cache in `/var/lib/containers/cache` whatever the
 * environment says; where a private mount namespace is available, skopeo and podman run with a
 * directory of the scratch directory mounted there instead, so nothing outside it changes.
 */
const SYSTEM_CACHE = '/var/lib/containers/cache';
const privateMounts =
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' }).status === 0;

/** Runs skopeo or podman with its state inside `work`. */
export async function runTool(
  work: ScratchDir,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const options = { env: { ...work.env, ...env }, timeoutMs: 180_000 };
  if (!privateMounts) return run(command, args, options);
  const cache = join(work.dir, 'system-cache');
  await mkdir(cache, { recursive: true });
  const script = `mkdir -p ${SYSTEM_CACHE} && mount --bind "$0" ${SYSTEM_CACHE} && exec "$@"`;
  return run(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, cache, command, ...args],
    options,
  );
}

/** A child process this test started, stopped by its PID. */
async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await exited;
}

/** Debian's `docker-registry` (CNCF distribution 2.8) as an upstream, with its access log. */
export interface DockerRegistry extends DistributionRegistry {
  /** Completed GETs of a path, counted in the access log (one combined-format line per request). */
  gets(path: string): number;
}

/** Starts `docker-registry` on a free loopback port over a fresh root under `work`. */
export async function startDockerRegistry(work: string): Promise<DockerRegistry> {
  const root = await mkdtemp(join(work, 'distribution-'));
  const registry = await startDistribution(root, work);
  return {
    ...registry,
    gets: (path) =>
      registry
        .output()
        .split('\n')
        .filter((line) => line.includes(`"GET ${path} HTTP/1.1" 200 `)).length,
  };
}

/**
 * Pushes an image to `reference` (`host/repo:tag`) the way a user would, with skopeo from an OCI
 * layout written into `work`; `creds` are skopeo's `user:password`.
 */
export async function seedImage(
  work: ScratchDir,
  image: RealImage,
  reference: string,
  creds?: string,
): Promise<void> {
  const layout = await mkdtemp(join(work.dir, 'layout-'));
  await writeOciLayout(layout, [{ tag: 'seed', image }]);
  await runTool(work, 'skopeo', [
    'copy',
    '--dest-tls-verify=false',
    ...(creds ? [`--dest-creds=${creds}`] : []),
    `oci:${layout}:seed`,
    `docker://${reference}`,
  ]);
}

/** Options of {@link startWharf}. */
export interface WharfOptions {
  /** The filesystem storage root (the configuration file is written next to it). */
  readonly root: string;
  readonly upstreams?: readonly UpstreamOptions[];
  /** Docker token authentication (wharf's own token endpoint) with this user. */
  readonly token?: { readonly user: string; readonly password: string };
}

/** An upstream's entry in `wharf.upstreams` (the options these tests use). */
function upstreamEntry(options: UpstreamOptions): Record<string, unknown> {
  const { credentials } = options;
  if (typeof credentials === 'function') throw new Error('a configuration file cannot hold a provider');
  return {
    namespace: options.namespace,
    url: options.url,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(credentials ?? {}),
    ...(options.tagFreshness === undefined ? {} : { tagfreshness: `${options.tagFreshness}ms` }),
  };
}

/** Starts `wharf serve` with a configuration file: filesystem storage, upstreams, token auth. */
export async function startWharf(options: WharfOptions): Promise<ServerProcess> {
  await mkdir(options.root, { recursive: true });
  const config: Record<string, unknown> = {
    storage: { filesystem: { rootdirectory: options.root } },
    http: { addr: '127.0.0.1:0' },
    // info: the start-up line carries the URL.
    log: { level: 'info', accesslog: { disabled: true } },
    wharf: {
      upstreams: (options.upstreams ?? []).map(upstreamEntry),
      ...(options.token
        ? { auth: { token: { htpasswd: await htpasswdFile(options.root, options.token) } } }
        : {}),
    },
  };
  const file = `${options.root}.yml`;
  // JSON is YAML.
  await writeFile(file, JSON.stringify(config));
  const cleared = Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => /^(REGISTRY_|WHARF_)/.test(name) || name === 'HOST' || name === 'PORT')
      .map((name) => [name, undefined]),
  );
  return startServer({ args: ['serve', file], env: cleared });
}

/** An htpasswd file (bcrypt) with one user, next to `root`. */
async function htpasswdFile(root: string, user: { user: string; password: string }): Promise<string> {
  const file = `${root}.htpasswd`;
  await writeFile(file, `${user.user}:${await hashPassword(user.password, 4)}\n`);
  return file;
}

/** GETs a URL and hashes the body as it arrives; the status, size, digest and headers. */
export function download(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; size: number; digest: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        hash.update(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          size,
          digest: `sha256:${hash.digest('hex')}`,
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** What the faulty front does to a request instead of passing it on. */
export type FrontFault =
  | { readonly status: number; readonly headers?: Record<string, string> }
  | { readonly truncateAt: number }
  | { readonly corrupt: true };

/** An HTTP forwarder in front of an upstream that counts requests and injects faults. */
export interface FaultyFront {
  readonly url: string;
  /** Requests seen, as `METHOD path`. */
  readonly seen: string[];
  fault: ((req: IncomingMessage) => FrontFault | undefined) | undefined;
  stop(): Promise<void>;
}

/** Starts a forwarder to `target` (an `http://host:port` origin) on a free loopback port. */
export async function startFaultyFront(target: string): Promise<FaultyFront> {
  const sockets = new Set<Socket>();
  const front: FaultyFront = {
    url: '',
    seen: [],
    fault: undefined,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((req, res) => {
    front.seen.push(`${req.method} ${req.url}`);
    const fault = front.fault?.(req);
    if (fault && 'status' in fault) {
      res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      return;
    }
    const upstream = request(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        let sent = 0;
        let flipped = false;
        reply.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (fault && 'truncateAt' in fault && sent + chunk.byteLength > fault.truncateAt) {
            res.write(chunk.subarray(0, fault.truncateAt - sent));
            reply.destroy();
            setTimeout(() => res.destroy(), 20);
            return;
          }
          if (fault && 'corrupt' in fault && !flipped) {
            out = Buffer.from(chunk);
            out[0] = out[0]! ^ 0xff;
            flipped = true;
          }
          sent += out.byteLength;
          if (!res.write(out)) {
            reply.pause();
            res.once('drain', () => reply.resume());
          }
        });
        reply.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(front, { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
}

/** A containerd daemon of this test's own (root, state and socket in `dir`). */
export interface Containerd {
  readonly address: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts containerd with only what pulling needs (no CRI), everything inside `dir`. */
export async function startContainerd(dir: string): Promise<Containerd> {
  const address = join(dir, 'containerd.sock');
  const config = join(dir, 'containerd.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const child = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = once(child, 'exit');
  const stop = () => stopChild(child, exited);
  for (const deadline = Date.now() + 20_000; !output.includes('containerd successfully booted'); ) {
    if (child.exitCode !== null) throw new Error(`containerd exited early:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address, output: () => output, stop };
}
