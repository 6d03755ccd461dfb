/**
 * The pull-through cache benchmark (`pnpm bench --only=proxy`): one blob pulled from Debian's
 * docker-registry directly (`proxy-direct`), and through `wharf serve` configured as its cache with
 * distribution's `proxy` section, cold (`proxy-cold`: the first pull, streamed while wharf verifies
 * and stores it) and warm (`proxy-warm`: from wharf's filesystem storage). Each repetition pushes a
 * fresh blob to the upstream; the direct pull goes first or last, alternately. Goals: cold ≥ 0.9×
 * direct, warm ≥ 1× direct.
 *
 * A ceiling runs beside them in `proxy-cold`: `proxy-pass` (raw/pass-server.ts) forwards the pull
 * to the same upstream, reading its answer off the socket, hashing and checking the body as it
 * streams and storing nothing: the least any verifying cache does. Where it falls short of the
 * cold goal, no cache can meet it here.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { download } from './lib/http.js';
import { cpuSeconds, quiesce } from './lib/proc.js';
import { pushMonolithic, type Sample, variant } from './lib/scenarios.js';
import { type GoalCheck, MiB, median } from './lib/stats.js';
import { hasDistribution, startDistributionFs, startRaw, startWharf, WORK } from './lib/targets.js';

/** Where the results go: `record(scenario, target, unit, samples)` of `run.ts`. */
export type Recorder = (scenario: string, target: string, unit: 'MiB/s', samples: Sample[]) => void;

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
}): Promise<GoalCheck[]> {
  if (!hasDistribution()) {
    console.log('  (proxy: docker-registry is not installed)');
    return [];
  }
  const work = join(WORK, 'proxy');
  await mkdir(work, { recursive: true });
  const upstream = await startDistributionFs(join(work, 'upstream'));
  const root = join(work, 'wharf');
  const proxy = await startWharf('wharf-proxy', {
    WHARF_STORAGE: 'fs',
    WHARF_ROOT: root,
    REGISTRY_PROXY_REMOTEURL: upstream.url,
    REGISTRY_PROXY_TTL: '0',
  });
  const pass = await startRaw('proxy-pass', 'pass-server.ts', upstream.url).catch(async (error) => {
    await proxy.stop();
    await upstream.stop();
    throw error;
  });
  const base = Buffer.alloc(options.size, 7);
  const samples: Record<'direct' | 'pass' | 'cold' | 'warm', Sample[]> = {
    direct: [],
    pass: [],
    cold: [],
    warm: [],
  };
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const blob = variant(base, 5_000 + rep);
      await pushMonolithic(upstream.url, 'bench/proxy', blob);
      const direct = `${upstream.url}/v2/bench/proxy/blobs/${blob.digest}`;
      const through = `${proxy.url}/v2/bench/proxy/blobs/${blob.digest}`;
      const passed = `${pass.url}/v2/bench/proxy/blobs/${blob.digest}`;
      const directs = async (): Promise<void> => {
        samples.direct.push(await timedPull(direct, blob.digest, [upstream.pid]));
        samples.pass.push(await timedPull(passed, blob.digest, [pass.pid, upstream.pid]));
      };
      // Cold comes before warm; the direct pulls go first or last, alternately.
      if (rep % 2 === 0) await directs();
      samples.cold.push(await timedPull(through, blob.digest, [proxy.pid, upstream.pid]));
      samples.warm.push(await timedPull(through, blob.digest, [proxy.pid]));
      if (rep % 2 === 1) await directs();
      await upstream.discard(blob.digest);
      const hex = blob.digest.slice('sha256:'.length);
      await rm(join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), {
        recursive: true,
        force: true,
      });
    }
  } finally {
    await proxy.stop();
    await pass.stop();
    await upstream.stop();
    await rm(work, { recursive: true, force: true });
  }
  options.record('proxy-direct', 'distribution-fs', 'MiB/s', samples.direct);
  options.record('proxy-cold', 'proxy-pass', 'MiB/s', samples.pass);
  options.record('proxy-cold', 'wharf-proxy', 'MiB/s', samples.cold);
  options.record('proxy-warm', 'wharf-proxy', 'MiB/s', samples.warm);
  const value = (list: Sample[]) => median(list.map((s) => s.value));
  const direct = value(samples.direct);
  return [
    {
      label: 'wharf-proxy: cold pull / direct pull from the upstream',
      ratio: value(samples.cold) / direct,
      goal: 0.9,
    },
    {
      // Not a goal of its own: where it falls short of the cold goal, no cache can meet it here.
      label: 'proxy ceiling: proxy-pass cold pull / direct pull from the upstream',
      ratio: value(samples.pass) / direct,
      goal: 0.9,
    },
    {
      label: 'wharf-proxy: warm pull / direct pull from the upstream',
      ratio: value(samples.warm) / direct,
      goal: 1,
    },
  ];
}
