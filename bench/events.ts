/**
 * The `events` scenarios: push throughput of `wharf serve` with one webhook endpoint against the
 * same server without, each a process of its own on a fresh fs root (configured by one file that
 * differs only in `notifications.endpoints`), the endpoint a receiver in another process that
 * reads each delivery, counts its events and answers 200 (`raw/hook-server.ts`). With the
 * endpoint, each write request also records its event in the outbox before answering, and the
 * server delivers meanwhile. CPU is the server process's.
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
import { MiB } from './lib/stats.js';
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

/**
 * Runs both scenarios on both variants, alternating their order per repetition; resolves samples by
 * scenario and variant (`wharf-fs` without an endpoint, `wharf-fs+endpoint` with one).
 */
export async function benchEvents(
  work: string,
  options: { quick: boolean; reps: number },
): Promise<Map<string, Map<string, Sample[]>>> {
  const hook = await startRaw('hook', 'hook-server.ts', '');
  const big = randomBytes((options.quick ? 64 : 512) * MiB);
  const images = options.quick ? 60 : 300;
  const samples = new Map<string, Map<string, Sample[]>>([
    ['events-push', new Map()],
    ['events-small', new Map()],
  ]);
  const add = (scenario: string, variantName: string, sample: Sample) => {
    const byVariant = samples.get(scenario)!;
    byVariant.set(variantName, [...(byVariant.get(variantName) ?? []), sample]);
  };
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const pair = [
        ['wharf-fs', undefined],
        ['wharf-fs+endpoint', `${hook.url}/hook`],
      ] as const;
      // Alternate which variant goes first, so drift in the machine's load favours neither.
      for (const [name, endpoint] of rep % 2 === 0 ? pair : [...pair].reverse()) {
        const target = await startTarget(name, join(work, `events-${name}-${rep}`), endpoint);
        try {
          // A fresh process compiles its code paths on first use: warm both variants up alike.
          const start = await received(hook);
          await pushSmallImages(target.url, WARM_UP, -1 - rep);
          const before = start + (endpoint ? WARM_UP * 3 : 0);
          if (endpoint) await delivered(hook, before);
          const blob = variant(big, rep);
          const push = await measure(target, () => pushMonolithic(target.url, 'bench/events-push', blob));
          add('events-push', name, { value: big.byteLength / MiB / push.seconds, cpu: push.cpu });
          await target.discard(blob.digest);
          const small = await measure(target, () => pushSmallImages(target.url, images, rep));
          const lag = endpoint ? await delivered(hook, before + 1 + images * 3) : 0;
          add('events-small', name, {
            value: (images * 3) / small.seconds,
            cpu: small.cpu,
            ...(endpoint ? { extra: { lag } } : {}),
          });
        } finally {
          await target.stop();
        }
      }
    }
  } finally {
    await hook.stop();
  }
  return samples;
}
