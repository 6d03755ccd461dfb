/**
 * The pull-through cache benchmark (`pnpm bench --only=proxy`): one blob pulled from Debian's
 * docker-registry directly (`proxy-direct`), through a wharf that caches it, cold (`proxy-cold`:
 * its first pull, streamed while wharf verifies and stores it) and warm (`proxy-warm`: from wharf's
 * filesystem storage). Each repetition pushes a fresh blob to the upstream; the three pulls
 * alternate order between repetitions. Goals: cold ≥ 0.9× direct, warm ≥ 1× direct.
 *
 * Run with `--serve <upstream-url> <root>`, this file is the wharf under test: filesystem storage
 * at `root` with the upstream `bench.test` under the prefix `hub/`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { download } from './lib/http.js';
import { cpuSeconds, quiesce } from './lib/proc.js';
import { pushMonolithic, type Sample, variant } from './lib/scenarios.js';
import { MiB } from './lib/stats.js';
import { hasDistribution, ROOT, startDistribution, type Target, WORK } from './lib/targets.js';

const SELF = fileURLToPath(import.meta.url);

/** Where the results go: `record(scenario, target, unit, samples)` of `run.ts`. */
export type Recorder = (scenario: string, target: string, unit: 'MiB/s', samples: Sample[]) => void;

/** A ratio the issue sets a goal for. */
export interface ProxyCheck {
  readonly label: string;
  readonly ratio: number;
  readonly goal: number;
}

/** Starts this file as the wharf under test; resolves its URL and PID. */
async function startProxy(upstream: string, root: string): Promise<Target> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', SELF, '--serve', upstream, root],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = once(child, 'exit');
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /proxy listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the proxy exited (${code}) before listening`)));
  });
  child.stdout!.resume();
  return {
    name: 'wharf-proxy',
    url,
    pid: child.pid!,
    discard: async () => {},
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One timed pull; the server processes' CPU seconds over it. */
async function timedPull(url: string, digest: string, pids: readonly number[]): Promise<Sample> {
  await quiesce();
  const cpu0 = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const t0 = performance.now();
  const result = await download(url, '');
  const seconds = (performance.now() - t0) / 1000;
  if (result.status !== 200 || result.digest !== digest) throw new Error(`pull of ${url}: ${result.status}`);
  const cpu = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpu0;
  return { value: result.size / MiB / seconds, cpu };
}

/** Runs the scenario; resolves the ratios against their goals. */
export async function benchProxy(options: {
  readonly size: number;
  readonly reps: number;
  readonly record: Recorder;
}): Promise<ProxyCheck[]> {
  if (!hasDistribution()) {
    console.log('  (proxy: docker-registry is not installed)');
    return [];
  }
  const work = join(WORK, 'proxy');
  await mkdir(work, { recursive: true });
  const upstream = await startDistribution(join(work, 'upstream'));
  const root = join(work, 'wharf');
  const proxy = await startProxy(upstream.url, root);
  const base = Buffer.alloc(options.size, 7);
  const samples: Record<'direct' | 'cold' | 'warm', Sample[]> = { direct: [], cold: [], warm: [] };
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const blob = variant(base, 5_000 + rep);
      await pushMonolithic(upstream.url, 'bench/proxy', blob);
      const direct = `${upstream.url}/v2/bench/proxy/blobs/${blob.digest}`;
      const through = `${proxy.url}/v2/hub/bench/proxy/blobs/${blob.digest}`;
      // Cold comes before warm; the direct pull goes first or last, alternately.
      if (rep % 2 === 0) samples.direct.push(await timedPull(direct, blob.digest, [upstream.pid]));
      samples.cold.push(await timedPull(through, blob.digest, [proxy.pid, upstream.pid]));
      samples.warm.push(await timedPull(through, blob.digest, [proxy.pid]));
      if (rep % 2 === 1) samples.direct.push(await timedPull(direct, blob.digest, [upstream.pid]));
      await upstream.discard(blob.digest);
      const hex = blob.digest.slice('sha256:'.length);
      await rm(join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), {
        recursive: true,
        force: true,
      });
    }
  } finally {
    await proxy.stop();
    await upstream.stop();
    await rm(work, { recursive: true, force: true });
  }
  options.record('proxy-direct', 'distribution', 'MiB/s', samples.direct);
  options.record('proxy-cold', 'wharf-proxy', 'MiB/s', samples.cold);
  options.record('proxy-warm', 'wharf-proxy', 'MiB/s', samples.warm);
  const median = (list: Sample[]) =>
    [...list.map((s) => s.value)].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  const direct = median(samples.direct);
  return [
    {
      label: 'wharf-proxy: cold pull / direct pull from the upstream',
      ratio: median(samples.cold) / direct,
      goal: 0.9,
    },
    {
      label: 'wharf-proxy: warm pull / direct pull from the upstream',
      ratio: median(samples.warm) / direct,
      goal: 1,
    },
  ];
}

/** `--serve <upstream> <root>`: the wharf under test. */
async function serve(upstream: string, root: string): Promise<void> {
  const { createRegistry } = await import('@wharf/core');
  const { createHandler } = await import('@wharf/http-node');
  const { createFsStorage } = await import('@wharf/storage-fs');
  const registry = createRegistry({
    storage: await createFsStorage({ root }),
    upstreams: [{ namespace: 'bench.test', url: upstream, prefix: 'hub/' }],
  });
  const server = createServer(createHandler(registry));
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1', () => {
    console.log(`proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!, process.argv[4]!);
