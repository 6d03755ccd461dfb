/**
 * The `events` scenarios: push throughput of `wharf serve` with one webhook endpoint against the
 * same server without, each a process of its own on a fresh fs root (configured by one file that
 * differs only in `notifications.endpoints`), the endpoint a receiver in another process that
 * reads each delivery, counts its events and answers 200 (`raw/hook-server.ts`). With the
 * endpoint, each write request also records its event in the outbox before answering, and the
 * server delivers meanwhile. CPU is the server process's. Both servers run throughout, and the
 * scenarios run in rounds that measure both variants back to back (see {@link benchEvents}).
 *
 * - `events-push`: one large blob, POST then PUT with the body (MiB/s);
 * - `events-small`: small images (config, one 16 KiB layer, manifest) from 8 clients at once
 *   (write requests/s: each records one event). With the endpoint, `lag` is the time from the
 *   last response until the receiver has every event of the sample.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeImage } from '@wharf/test-utils';
import { expectStatus, send } from './lib/http.js';
import { cpuSeconds, quiesce } from './lib/proc.js';
import type { Sample } from './lib/scenarios.js';
import { pushMonolithic, variant } from './lib/scenarios.js';
import { type GoalCheck, MiB, median } from './lib/stats.js';
import { layoutDiscarder, startRaw, startWharf, type Target } from './lib/targets.js';

const CLIENTS = 8;
/** Small images pushed before measuring. */
const WARM_UP = 24;
/** Longest wait for the receiver to get every event of a sample. */
const DELIVERY_TIMEOUT_MS = 60_000;

/** Starts `wharf serve` on a fresh root, with `hook` as its one endpoint when given. */
export async function startTarget(name: string, dir: string, hook: string | undefined): Promise<Target> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'config.yml');
  const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'root')}`];
  if (hook) lines.push('notifications:', '  endpoints:', '    - name: bench', `      url: ${hook}`);
  await writeFile(config, `${lines.join('\n')}\n`);
  return startWharf(name, { REGISTRY_CONFIGURATION_PATH: config }, layoutDiscarder(join(dir, 'root')));
}

/** Wall-clock seconds and the server's CPU seconds of `work`, after the machine settled. */
async function measure(target: Target, work: () => Promise<void>): Promise<{ seconds: number; cpu: number }> {
  spawnSync('sync');
  await quiesce();
  const cpu0 = cpuSeconds(target.pid);
  const t0 = performance.now();
  await work();
  return { seconds: (performance.now() - t0) / 1000, cpu: cpuSeconds(target.pid) - cpu0 };
}

/** How many events the receiver has got so far. */
export async function received(hook: Target): Promise<number> {
  const reply = await send(hook.url, 'GET', '/count');
  expectStatus(reply, 200, 'GET /count');
  return (JSON.parse(reply.body.toString()) as { events: number }).events;
}

/** Seconds until the receiver has `count` events. */
export async function delivered(hook: Target, count: number): Promise<number> {
  const t0 = performance.now();
  while ((await received(hook)) < count) {
    if (performance.now() - t0 > DELIVERY_TIMEOUT_MS) throw new Error(`events not delivered: ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return (performance.now() - t0) / 1000;
}

export async function pushSmallImages(url: string, count: number, rep: number): Promise<void> {
  let next = 0;
  const client = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const repo = `bench/events-${i % 16}`;
      const image = makeImage({ layers: [16 * 1024], label: `${rep}-${i}` });
      for (const blob of [image.config, ...image.layers]) {
        const reply = await send(url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, blob.bytes);
        expectStatus(reply, 201, 'POST blob');
      }
      const put = await send(url, 'PUT', `/v2/${repo}/manifests/r${rep}-${i}`, image.manifest.bytes, {
        'Content-Type': image.mediaType,
      });
      expectStatus(put, 201, 'PUT manifest');
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
}

/** Rounds of both variants per repetition (each repetition a fresh pair of servers). */
const ROUNDS_PER_REP = 4;

/**
 * Runs both scenarios on both variants: per repetition, a fresh server of each variant runs
 * {@link ROUNDS_PER_REP} rounds, and within a round the variants alternate which goes first.
 * Resolves samples by scenario and variant (`wharf-fs` without an endpoint, `wharf-fs+endpoint`
 * with one), and the checks: for each scenario the median over all rounds of endpoint / none.
 *
 * Two kinds of noise are at work here, and each design copes with one. The disk's slow spells
 * (its flush time varies by several times between samples) hit both samples of a round alike,
 * taken seconds apart. A server process can also run a whole lifetime faster or slower than its
 * twin (a third apart, seen in runs of 12 rounds on one pair), so repetitions start fresh pairs.
 */
export async function benchEvents(
  work: string,
  options: { quick: boolean; reps: number },
): Promise<{ samples: Map<string, Map<string, Sample[]>>; checks: GoalCheck[] }> {
  const hook = await startRaw('hook', 'hook-server.ts', '');
  const big = randomBytes((options.quick ? 64 : 512) * MiB);
  const images = options.quick ? 40 : 150;
  const rounds = options.quick ? 2 : ROUNDS_PER_REP;
  const samples = new Map<string, Map<string, Sample[]>>([
    ['events-push', new Map()],
    ['events-small', new Map()],
  ]);
  const ratios = new Map<string, number[]>([
    ['events-push', []],
    ['events-small', []],
  ]);
  const variants: Array<{ name: string; endpoint: string | undefined; target?: Target }> = [
    { name: 'wharf-fs', endpoint: undefined },
    { name: 'wharf-fs+endpoint', endpoint: `${hook.url}/hook` },
  ];
  try {
    let expected = await received(hook);
    for (let rep = 0; rep < options.reps; rep++) {
      try {
        for (const v of variants) {
          v.target = await startTarget(v.name, join(work, `events-${v.name}-${rep}`), v.endpoint);
          // A fresh process compiles its code paths on first use: warm both variants up alike.
          await pushSmallImages(v.target.url, WARM_UP, -1);
          if (v.endpoint) {
            expected += WARM_UP * 3;
            await delivered(hook, expected);
          }
        }
        for (let round = rep * rounds; round < (rep + 1) * rounds; round++) {
          const values = new Map<string, number>();
          // Alternate which variant goes first, so drift in the machine's load favours neither.
          for (const { name, endpoint, target } of round % 2 === 0 ? variants : [...variants].reverse()) {
            const server = target!;
            const blob = variant(big, round);
            const push = await measure(server, () => pushMonolithic(server.url, 'bench/events-push', blob));
            await server.discard(blob.digest);
            const pushed = { value: big.byteLength / MiB / push.seconds, cpu: push.cpu };
            const small = await measure(server, () => pushSmallImages(server.url, images, round));
            // The endpoint's deliveries finish before the next sample starts, so they never slow it.
            if (endpoint) expected += 1 + images * 3;
            const lag = endpoint ? await delivered(hook, expected) : 0;
            const smalls = {
              value: (images * 3) / small.seconds,
              cpu: small.cpu,
              ...(endpoint ? { extra: { lag } } : {}),
            };
            for (const [scenario, sample] of [
              ['events-push', pushed],
              ['events-small', smalls],
            ] as const) {
              const byVariant = samples.get(scenario)!;
              byVariant.set(name, [...(byVariant.get(name) ?? []), sample]);
              values.set(`${scenario} ${name}`, sample.value);
            }
          }
          for (const [scenario, list] of ratios)
            list.push(values.get(`${scenario} wharf-fs+endpoint`)! / values.get(`${scenario} wharf-fs`)!);
        }
      } finally {
        for (const v of variants) {
          await v.target?.stop();
          v.target = undefined;
        }
      }
    }
  } finally {
    await hook.stop();
  }
  const labels: Record<string, string> = {
    'events-push': 'wharf-fs: push with an event endpoint / without',
    'events-small': 'wharf-fs: small pushes with an event endpoint / without',
  };
  const checks = [...ratios].map(([scenario, list]) => ({
    label: `${labels[scenario]!} (median of ${list.length} rounds)`,
    ratio: median(list),
    goal: 0.95,
  }));
  return { samples, checks };
}
