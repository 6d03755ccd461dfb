import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry, type Registry, type RegistryEvent } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { createFsStorage, type FsStorage } from '@wharf/storage-fs';
import {
  makeImage,
  OciClient,
  parseDistributionEnvelope,
  type Receiver,
  rounds,
  startReceiver,
  startServer,
} from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

/** How long the receiver stays down while retries back off (the full time under WHARF_STRESS=1). */
const DOWN_MS = rounds(3_000, 30_000);

const EVENTS_SERVER = fileURLToPath(new URL('./fixtures/events-server.ts', import.meta.url));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  cleanups.push(() => started.close());
  return started;
}

/** A registry on fs storage behind a real node:http server on loopback. */
async function serve(registry: Registry): Promise<OciClient> {
  const server: Server = createServer(createHandler(registry));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return new OciClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

async function storageAt(root: string): Promise<FsStorage> {
  const storage = await createFsStorage({ root });
  cleanups.push(() => storage.close());
  return storage;
}

/** Every event the receiver got, in arrival order, read as a distribution consumer reads them. */
function consumed(hook: { readonly received: readonly Receiver['received'][number][] }) {
  return hook.received.flatMap((r) =>
    parseDistributionEnvelope(r.headers['content-type'], r.body.toString()),
  );
}

describe('durable notifications on fs storage', () => {
  it(`delivers every event, in order per repository, to a receiver that was down for ${DOWN_MS / 1000} s`, {
    timeout: 120_000,
  }, async () => {
    const { dir, remove } = await tempDir('events-down');
    cleanups.push(remove);
    const hook = await receiver();
    await hook.down();
    const recorded: RegistryEvent[] = [];
    const registry = createRegistry({
      storage: await storageAt(dir),
      onEvent: (event) => {
        recorded.push(event);
      },
      events: {
        pollInterval: 200,
        endpoints: [{ name: 'hook', url: hook.url, backoff: 250, maxBackoff: 4000, timeout: 1000 }],
      },
    });
    cleanups.push(() => registry.close());
    const client = await serve(registry);
    const started = Date.now();
    for (let round = 0; round < 4; round++) {
      for (const repo of ['alpha', 'beta/x', 'gamma']) {
        await client.pushImage(repo, `v${round}`, makeImage({ layers: [64], label: `${repo}${round}` }));
      }
    }
    expect(recorded).toHaveLength(36);
    const stats = registry.events!.stats()[0]!;
    expect(stats.delivered).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, DOWN_MS - (Date.now() - started)));
    expect(registry.events!.stats()[0]!.failed).toBeGreaterThan(0);
    expect(hook.received).toHaveLength(0);

    await hook.up();
    await hook.waitFor((all) => consumed({ received: all }).length === 36, 30_000);
    const events = consumed(hook);
    expect(new Set(events.map((e) => e.id))).toEqual(new Set(recorded.map((e) => e.id)));
    for (const repo of ['alpha', 'beta/x', 'gamma']) {
      const arrived = events.filter((e) => e.target.repository === repo).map((e) => e.id);
      const expected = recorded.filter((e) => e.repository === repo).map((e) => e.id);
      expect(arrived).toEqual(expected);
    }
    // Requests over HTTP carry the client's address and the Host header.
    expect(events[0]!.request.addr).toBe('127.0.0.1');
    expect(events[0]!.request.host).toBe(new URL(client.base).host);
    await expect.poll(async () => (await registry.events!.pending()).length, { timeout: 10_000 }).toBe(0);
  });

  it('delivers after a kill -9 between the response and the delivery', { timeout: 120_000 }, async () => {
    const { dir, remove } = await tempDir('events-kill');
    cleanups.push(remove);
    const hook = await receiver();
    await hook.down();
    const env = { WHARF_ROOT: dir, EVENTS_URL: hook.url };
    const first = await startServer({ main: EVENTS_SERVER, env });
    cleanups.push(() => first.kill());
    const image = makeImage({ layers: [512] });
    await new OciClient(first.url).pushImage('crash/repo', 'v1', image);
    await first.kill();

    await hook.up();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hook.received).toHaveLength(0);
    const second = await startServer({ main: EVENTS_SERVER, env });
    cleanups.push(() => second.stop());
    await hook.waitFor((all) => consumed({ received: all }).length === 3, 30_000);
    const events = consumed(hook);
    expect(events.map((e) => [e.action, e.target.digest])).toEqual([
      ['push', image.config.digest],
      ['push', image.layers[0]!.digest],
      ['push', image.manifest.digest],
    ]);
    expect(events[2]!.target.tag).toBe('v1');
    // The event names the instance that recorded it, not the one that delivered it.
    expect(new Set(events.map((e) => e.source.instanceID)).size).toBe(1);
  });
});

describe('fs outbox records', () => {
  it('writes a record into a folder removed since the last write to it (a remembered folder is only a hint)', async () => {
    const { dir, remove } = await tempDir('events-folder');
    cleanups.push(remove);
    const storage = await storageAt(dir);
    const events = storage.events;
    expect(await events.put('queue/0001-a', new TextEncoder().encode('one'))).toBe(true);
    // Someone removes the whole outbox folder meanwhile (an operator, a restore).
    await rm(join(dir, 'docker/registry/v2/_wharf/events/queue'), { recursive: true });
    expect(await events.list('queue')).toEqual([]);
    expect(await events.put('queue/0002-b', new TextEncoder().encode('two'))).toBe(true);
    expect(await events.list('queue')).toEqual(['0002-b']);
    expect(new TextDecoder().decode((await events.get('queue/0002-b'))!)).toBe('two');
    expect(await readFile(join(dir, 'docker/registry/v2/_wharf/events/queue/0002-b'), 'utf8')).toBe('two');
  });
});
