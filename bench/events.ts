/**
 * The `events` scenarios: push throughput of a registry with one webhook endpoint against the same
 * registry without, both on fresh fs roots in this process, served over loopback HTTP, the
 * endpoint a loopback receiver answering 200. With the endpoint, each write request also records
 * its event in the outbox before answering, and the dispatcher delivers meanwhile.
 *
 * - `events-push`: one large blob, POST then PUT with the body (MiB/s);
 * - `events-small`: small images (config, one 16 KiB layer, manifest) from 8 clients at once
 *   (write requests/s: each records one event).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRegistry, type Registry } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { createFsStorage } from '@wharf/storage-fs';
import { makeImage } from '@wharf/test-utils';
import { expectStatus, send } from './lib/http.js';
import { quiesce } from './lib/proc.js';
import type { Sample } from './lib/scenarios.js';
import { pushMonolithic, variant } from './lib/scenarios.js';
import { MiB } from './lib/stats.js';

const CLIENTS = 8;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

interface Running {
  readonly url: string;
  readonly registry: Registry;
  stop(): Promise<void>;
}

async function start(root: string, endpoint: string | undefined): Promise<Running> {
  const storage = await createFsStorage({ root });
  const registry = createRegistry({
    storage,
    ...(endpoint ? { events: { endpoints: [{ name: 'bench', url: endpoint }] } } : {}),
  });
  const server = createServer(createHandler(registry));
  const url = await listen(server);
  return {
    url,
    registry,
    async stop() {
      await close(server);
      await registry.close();
      await storage.close();
    },
  };
}

/** Wall-clock seconds and this process's CPU seconds of `work`, after the machine settled. */
async function measure(work: () => Promise<void>): Promise<{ seconds: number; cpu: number }> {
  spawnSync('sync');
  await quiesce();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

async function pushSmallImages(url: string, count: number, rep: number): Promise<void> {
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
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  const hook = `${await listen(receiver)}/hook`;
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
        ['wharf-fs+endpoint', hook],
      ] as const;
      // Alternate which variant goes first, so drift in the machine's load favours neither.
      for (const [name, endpoint] of rep % 2 === 0 ? pair : [...pair].reverse()) {
        const target = await start(join(work, `events-${name}-${rep}`), endpoint);
        try {
          const blob = variant(big, rep);
          const push = await measure(() => pushMonolithic(target.url, 'bench/events-push', blob));
          add('events-push', name, { value: big.byteLength / MiB / push.seconds, cpu: push.cpu });
          const small = await measure(() => pushSmallImages(target.url, images, rep));
          add('events-small', name, { value: (images * 3) / small.seconds, cpu: small.cpu });
        } finally {
          await target.stop();
        }
      }
    }
  } finally {
    await close(receiver);
  }
  return samples;
}
