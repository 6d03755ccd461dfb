/**
 * The `events` scenarios: push throughput of `wharf serve` with one webhook endpoint against the
 * same server without, each a process of its own (configured by one file that differs only in
 * `notifications.endpoints`), the endpoint a receiver in another process that reads each delivery,
 * counts its events and answers 200 (`raw/hook-server.ts`). With the endpoint, each write request
 * also records its event in the outbox before answering, and the server delivers meanwhile. CPU is
 * the server process's. The servers run in pairs, one of each variant on one fs root (as replicas
 * may), and each pair runs rounds that measure both variants back to back (see {@link benchEvents}).
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

/**
 * Starts `wharf serve` on the fs root `root`, with `hook` as its one endpoint when given (its
 * configuration file goes to `dir`).
 */
export async function startTarget(
  name: string,
  dir: string,
  root: string,
  hook: string | undefined,
): Promise<Target> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'config.yml');
  const lines = ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${root}`];
  if (hook) lines.push('notifications:', '  endpoints:', '    - name: bench', `      url: ${hook}`);
  await writeFile(config, `${lines.join('\n')}\n`);
  return startWharf(name, { REGISTRY_CONFIGURATION_PATH: config }, layoutDiscarder(root));
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

/**
 * Pushes `count` small images from {@link CLIENTS} clients at once, each image made of fresh blobs
 * (`label` makes them differ from every other call's).
 */
export async function pushSmallImages(url: string, count: number, label: string): Promise<void> {
  let next = 0;
  const client = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const repo = `bench/events-${i % 16}`;
      const image = makeImage({ layers: [16 * 1024], label: `${label}-${i}` });
      for (const blob of [image.config, ...image.layers]) {
        const reply = await send(url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, blob.bytes);
        expectStatus(reply, 201, 'POST blob');
      }
      const put = await send(url, 'PUT', `/v2/${repo}/manifests/${label}-${i}`, image.manifest.bytes, {
        'Content-Type': image.mediaType,
      });
      expectStatus(put, 201, 'PUT manifest');
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
}

/**
 * Fresh pairs of servers per repetition. Each runs two rounds, one in each order, and gives one
 * ratio: the pair is the unit of independent noise (see {@link benchEvents}).
 */
const PAIRS_PER_REP = 2;

/** The geometric mean of each two consecutive values (rounds that ran the variants in both orders). */
function pairMeans(ratios: readonly number[]): number[] {
  const means: number[] = [];
  for (let i = 0; i + 1 < ratios.length; i += 2) means.push(Math.sqrt(ratios[i]! * ratios[i + 1]!));
  return means;
}

/**
 * Runs both scenarios on both variants: {@link PAIRS_PER_REP} times per repetition, a fresh server
 * of each variant, both on one fresh fs root, runs two rounds, and each round measures both
 * variants back to back, the second round in the other order. Resolves samples by scenario and
 * variant (`wharf-fs` without an endpoint, `wharf-fs+endpoint` with one), and the checks: for each
 * scenario the median over the pairs of servers of the geometric mean of their two rounds'
 * endpoint / none.
 *
 * The noise at work here, and how each part of the design copes with it:
 * - The disk's flush time varies by several times between samples: a round's two samples are
 *   taken seconds apart and share the disk's mood.
 * - Creating files on ext4 without a journal costs far more CPU in a directory tree whose inode
 *   groups hold many inodes removed in the last minutes (the allocator checks each of them, see
 *   `recently_deleted` in the kernel's ext4/ialloc.c), and this fades; the endpoint server pays
 *   more, so `run.ts` starts these scenarios once such a removal has aged (`lib/settle.ts`). What
 *   is left of it between pairs cancels as follows. Two roots placed in different groups made one
 *   server a third slower than its twin for its whole life, so both servers share one root
 *   (replicas may), each pushing blobs of its own.
 * - As it fades, the variant that goes second in a round gains (up to a fifth right after a large
 *   removal): the two rounds of a pair run in both orders, and their ratios are taken together.
 * - A server process can still spend a fifth more user CPU than its twin on the same work for its
 *   whole life: hence many short-lived pairs rather than few long-lived ones.
 */
export async function benchEvents(
  work: string,
  options: { quick: boolean; reps: number },
): Promise<{ samples: Map<string, Map<string, Sample[]>>; checks: GoalCheck[] }> {
  const hook = await startRaw('hook', 'hook-server.ts', '');
  const big = randomBytes((options.quick ? 64 : 512) * MiB);
  const images = options.quick ? 40 : 150;
  const pairs = options.quick ? 1 : options.reps * PAIRS_PER_REP;
  const samples = new Map<string, Map<string, Sample[]>>([
    ['events-push', new Map()],
    ['events-small', new Map()],
  ]);
  const ratios = new Map<string, number[]>([
    ['events-push', []],
    ['events-small', []],
  ]);
  const variants: Array<{ name: string; tag: string; endpoint: string | undefined; target?: Target }> = [
    { name: 'wharf-fs', tag: 'none', endpoint: undefined },
    { name: 'wharf-fs+endpoint', tag: 'endpoint', endpoint: `${hook.url}/hook` },
  ];
  try {
    let expected = await received(hook);
    for (let pair = 0; pair < pairs; pair++) {
      const root = join(work, `events-${pair}`, 'root');
      try {
        for (const v of variants) {
          v.target = await startTarget(v.name, join(work, `events-${pair}`, v.tag), root, v.endpoint);
          // A fresh process compiles its code paths on first use: warm both variants up alike.
          await pushSmallImages(v.target.url, WARM_UP, `${v.tag}-warm`);
          if (v.endpoint) {
            expected += WARM_UP * 3;
            await delivered(hook, expected);
          }
        }
        for (let round = 2 * pair; round < 2 * pair + 2; round++) {
          const values = new Map<string, number>();
          // Alternate which variant goes first, so drift in the machine's load favours neither.
          for (const { name, tag, endpoint, target } of round % 2 === 0
            ? variants
            : [...variants].reverse()) {
            const server = target!;
            const blob = variant(big, round);
            const push = await measure(server, () => pushMonolithic(server.url, 'bench/events-push', blob));
            await server.discard(blob.digest);
            const pushed = { value: big.byteLength / MiB / push.seconds, cpu: push.cpu };
            const small = await measure(server, () => pushSmallImages(server.url, images, `${tag}-${round}`));
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
  const checks = [...ratios].map(([scenario, list]) => {
    const means = pairMeans(list);
    return {
      label: `${labels[scenario]!} (median of ${means.length} pairs of servers)`,
      ratio: median(means),
      goal: 0.95,
    };
  });
  return { samples, checks };
}
