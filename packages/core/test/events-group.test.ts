import { createMemoryStorage, type EventDelivery, type Registry, type RegistryOptions } from '@wharf/core';
import { makeImage } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

const opened: Registry[] = [];
afterEach(async () => {
  for (const registry of opened.splice(0)) await registry.close();
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An endpoint whose first delivery waits until released, at concurrency 1: everything recorded
 * meanwhile is pending when the next pass looks. `fail(n)` decides whether the n-th call fails.
 */
function gated(fail: (call: number) => boolean = () => false) {
  const calls: EventDelivery[] = [];
  const accepted: EventDelivery[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const transport = async (delivery: EventDelivery) => {
    calls.push(delivery);
    const call = calls.length;
    if (call === 1) await gate;
    if (fail(call)) throw new Error('receiver unavailable');
    accepted.push(delivery);
  };
  return { calls, accepted, transport, release };
}

function open(transport: (delivery: EventDelivery) => Promise<void>) {
  const storage = createMemoryStorage();
  const options: RegistryOptions = {
    storage,
    events: {
      pollInterval: 20,
      endpoints: [{ name: 'hook', transport, concurrency: 1, backoff: 10, threshold: 100 }],
    },
  };
  const made = setup(options);
  opened.push(made.registry);
  return { ...made, storage };
}

const digests = (deliveries: readonly EventDelivery[], repository?: string) =>
  deliveries
    .flatMap((d) => d.events)
    .filter((e) => repository === undefined || e.repository === repository)
    .map((e) => ('digest' in e ? e.digest : undefined));

describe('grouped deliveries', () => {
  it('sends the entries recorded while a delivery was in flight in one request, in recording order', async () => {
    const hook = gated();
    const { registry, client, storage } = open(hook.transport);
    const blobs = Array.from({ length: 5 }, (_, i) => makeImage({ label: `g${i}` }).config);
    await client.pushBlob('a', blobs[0]!.bytes, 'single-post');
    await until(() => hook.calls.length === 1);
    // Recorded one request at a time while the first delivery is held: five separate entries.
    const pushed = [
      ['b', blobs[1]!],
      ['a', blobs[2]!],
      ['b', blobs[3]!],
      ['a', blobs[4]!],
    ] as const;
    for (const [repository, blob] of pushed) await client.pushBlob(repository, blob.bytes, 'single-post');
    expect(await storage.events!.list('queue')).toHaveLength(5);
    hook.release();

    await until(async () => (await storage.events!.list('queue')).length === 0);
    expect(hook.calls).toHaveLength(2);
    expect(digests([hook.calls[0]!])).toEqual([blobs[0]!.digest]);
    expect(digests([hook.calls[1]!])).toEqual(pushed.map(([, blob]) => blob.digest));
    expect(registry.events!.stats()[0]).toMatchObject({ delivered: 5, failed: 0 });
    expect(await registry.events!.pending()).toEqual([]);
  });

  it('retries every entry of a failed request, each event delivered and each repository in order', async () => {
    // The grouped request (the second call) fails once.
    const hook = gated((call) => call === 2);
    const { registry, client, storage } = open(hook.transport);
    const blobs = Array.from({ length: 5 }, (_, i) => makeImage({ label: `f${i}` }).config);
    await client.pushBlob('a', blobs[0]!.bytes, 'single-post');
    await until(() => hook.calls.length === 1);
    for (const [i, blob] of blobs.slice(1).entries())
      await client.pushBlob(i % 2 === 0 ? 'b' : 'a', blob.bytes, 'single-post');
    hook.release();

    await until(async () => (await storage.events!.list('queue')).length === 0);
    expect(hook.calls[1]!.events).toHaveLength(4);
    // Nothing lost: every event accepted exactly once (the failed request was accepted by nobody).
    expect(new Set(digests(hook.accepted))).toEqual(new Set(blobs.map((b) => b.digest)));
    expect(digests(hook.accepted)).toHaveLength(5);
    expect(digests(hook.accepted, 'a')).toEqual([blobs[0]!.digest, blobs[2]!.digest, blobs[4]!.digest]);
    expect(digests(hook.accepted, 'b')).toEqual([blobs[1]!.digest, blobs[3]!.digest]);
    expect(registry.events!.stats()[0]).toMatchObject({ delivered: 5, failed: 4, deadLettered: 0 });
    expect(await registry.events!.deadLetters()).toEqual([]);
  });
});
