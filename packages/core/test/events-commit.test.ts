import { createMemoryStorage, type EventPutOptions, type EventStore, type RegistryEvent } from '@wharf/core';
import { randomContent, tick } from '@wharf/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMMIT_DELAY_MS, Outbox } from '../src/events/outbox.js';
import { Writers } from '../src/events/writers.js';
import { rawRequest, setup } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

/** An event store that records when each queue record was written, and with which options. */
function countingStore(): { store: EventStore; queued: Array<{ at: number; options?: EventPutOptions }> } {
  const inner = createMemoryStorage().events!;
  const queued: Array<{ at: number; options?: EventPutOptions }> = [];
  return {
    queued,
    store: {
      put(key, value, options) {
        if (key.startsWith('queue/')) queued.push({ at: performance.now(), ...(options ? { options } : {}) });
        return inner.put(key, value, options);
      },
      get: (key) => inner.get(key),
      delete: (keys) => inner.delete(keys),
      list: (dir, page) => inner.list(dir, page),
    },
  };
}

function event(repository: string): RegistryEvent {
  return {
    type: 'blob.pushed',
    repository,
    digest: `sha256:${'0'.repeat(64)}`,
    size: 1,
    mediaType: 'application/octet-stream',
    id: repository,
    timestamp: new Date(0).toISOString(),
    actor: {},
    source: { instanceId: 'test' },
  } as RegistryEvent;
}

describe('group commit of the outbox', () => {
  it('waits for requests still being handled, then writes their events in one record', async () => {
    const { store, queued } = countingStore();
    const writers = new Writers();
    const outbox = new Outbox(store, writers);
    const leaveA = writers.enter();
    const leaveB = writers.enter();
    leaveA();
    const first = outbox.append([event('a')]);
    await tick();
    await tick();
    expect(queued).toHaveLength(0); // b is still being handled
    leaveB();
    const second = outbox.append([event('b')]);
    const [a, b] = await Promise.all([first, second]);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.options).toEqual({ unique: true });
    expect(a.key).toBe(b.key);
    expect(a.events.map((e) => e.repository)).toEqual(['a', 'b']);
  });

  it('writes at once when no other request is being handled, and after the commit delay at most otherwise', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, queued } = countingStore();
    const writers = new Writers();
    const outbox = new Outbox(store, writers);
    // No timer runs: a write that waited would never finish.
    await outbox.append([event('alone')]);
    expect(queued).toHaveLength(1);

    const leave = writers.enter();
    let written = false;
    const pending = outbox.append([event('held')]).then(() => {
      written = true;
    });
    await tick();
    expect(written).toBe(false);
    vi.advanceTimersByTime(COMMIT_DELAY_MS - 1);
    await tick();
    expect(written).toBe(false);
    vi.advanceTimersByTime(1);
    await pending;
    expect(queued).toHaveLength(2);
    leave();
    leave(); // twice is once
    expect(writers.active).toBe(0);
  });

  it('does not wait for requests that arrived after the write began waiting', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, queued } = countingStore();
    const writers = new Writers();
    const outbox = new Outbox(store, writers);
    const leaveEarly = writers.enter();
    let written = false;
    const pending = outbox.append([event('first')]).then(() => {
      written = true;
    });
    await tick();
    // A request arriving now, still in flight when the earlier one leaves, does not hold the write
    // (no timer advances here: a write waiting for it would never finish).
    const leaveLate = writers.enter();
    leaveEarly();
    for (let i = 0; i < 5 && !written; i++) await tick();
    expect(written).toBe(true);
    await pending;
    expect(queued).toHaveLength(1);
    expect(writers.active).toBe(1);
    leaveLate();
  });

  it('a registry counts its write requests in while they are handled', async () => {
    const { store, queued } = countingStore();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { registry, client } = setup({
      storage: { ...createMemoryStorage(), events: store },
      events: { endpoints: [{ name: 'none', url: 'http://127.0.0.1:9/' }], autoStart: false },
      // A write request to `held/` stays in the registry until released.
      authorize: async ({ repository }) => {
        if (repository === 'held') await held;
        return true;
      },
    });
    try {
      const blob = randomContent(64);
      const push = (repository: string) =>
        client.request('POST', `/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, {
          body: blob.bytes,
        });
      expect((await push('warm')).status).toBe(201);
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const slow = client.request('POST', '/v2/held/blobs/uploads/');
      let answered = false;
      const fast = push('fast').then((response) => {
        answered = true;
        return response;
      });
      // Until its event is waiting for the held request (which records nothing): the commit's timer.
      for (let i = 0; i < 1000 && vi.getTimerCount() === 0 && !answered; i++) await tick();
      expect(answered).toBe(false);
      expect(vi.getTimerCount()).toBe(1);
      expect(queued).toHaveLength(1);
      vi.advanceTimersByTime(COMMIT_DELAY_MS);
      expect((await fast).status).toBe(201);
      expect(queued).toHaveLength(2);
      release();
      expect((await slow).status).toBe(202);
    } finally {
      release();
      vi.useRealTimers();
      await registry.close();
    }
  });

  it('a registry does not wait for requests streaming a body over 1 MiB or of unknown length', async () => {
    const { store } = countingStore();
    const { registry, client } = setup({
      storage: { ...createMemoryStorage(), events: store },
      events: { endpoints: [{ name: 'none', url: 'http://127.0.0.1:9/' }], autoStart: false },
    });
    const blob = randomContent(64);
    const push = (repository: string) =>
      client.request('POST', `/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, {
        body: blob.bytes,
      });
    /** Whether a push answers while a PATCH with `headers` is still streaming its body. */
    const answersDuringPatch = async (headers: Record<string, string>): Promise<boolean> => {
      const started = await client.request('POST', '/v2/streaming/blobs/uploads/');
      const location = new URL(started.headers.get('location')!, 'http://registry.local');
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const chunk = new Uint8Array(16);
      const request = rawRequest('PATCH', `${location.pathname}${location.search}`, headers, []);
      const patch = registry.handle({
        ...request,
        body: (async function* () {
          yield chunk;
          await held;
        })(),
      });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        let answered = false;
        const fast = push('fast').then((response) => {
          answered = true;
          return response;
        });
        for (let i = 0; i < 1000 && vi.getTimerCount() === 0 && !answered; i++) await tick();
        const waited = !answered;
        vi.advanceTimersByTime(COMMIT_DELAY_MS);
        expect((await fast).status).toBe(201);
        return !waited;
      } finally {
        vi.useRealTimers();
        release();
        await patch;
      }
    };
    try {
      expect((await push('warm')).status).toBe(201);
      expect(await answersDuringPatch({})).toBe(true);
      expect(await answersDuringPatch({ 'Content-Length': String(8 * 1024 * 1024) })).toBe(true);
      // A short body is counted in: the push's commit waits for it (the commit delay's timer).
      expect(await answersDuringPatch({ 'Content-Length': '16' })).toBe(false);
    } finally {
      await registry.close();
    }
  });
});
