import { describe, expect, it } from 'vitest';
import { isStoreError } from '../stores/errors.js';
import type { EventStore } from '../stores/types.js';
import type { StoreHarness } from './harness.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | null): string | null => (value ? new TextDecoder().decode(value) : null);

function eventsOf(harness: StoreHarness): EventStore {
  const store = harness.storage.events;
  if (!store) throw new Error('the storage has no event store (storage.events)');
  return store;
}

/** EventStore contract tests (the outbox of durable notifications). */
export function eventStoreTests(
  use: (body: (h: StoreHarness) => Promise<void>) => () => Promise<void>,
): void {
  describe('EventStore', () => {
    it(
      'writes, overwrites, reads and deletes records',
      use(async (h) => {
        const events = eventsOf(h);
        expect(await events.get('queue/a')).toBeNull();
        expect(await events.put('queue/a', bytes('one'))).toBe(true);
        expect(text(await events.get('queue/a'))).toBe('one');
        expect(await events.put('queue/a', bytes('two'))).toBe(true);
        expect(text(await events.get('queue/a'))).toBe('two');
        await events.delete(['queue/a', 'queue/never-written']);
        expect(await events.get('queue/a')).toBeNull();
        expect(await events.list('queue')).toEqual([]);
      }),
    );

    it(
      'creates with ifAbsent only once, also when writers race on two replicas',
      use(async (h) => {
        const events = eventsOf(h);
        expect(await events.put('ep/x/k.l0', bytes('first'), { ifAbsent: true })).toBe(true);
        expect(await events.put('ep/x/k.l0', bytes('second'), { ifAbsent: true })).toBe(false);
        expect(text(await events.get('ep/x/k.l0'))).toBe('first');
        const other = (await h.replica?.())?.events ?? events;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            (i % 2 ? other : events).put('ep/x/k.l1', bytes(`writer ${i}`), { ifAbsent: true }),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect(text(await events.get('ep/x/k.l1'))).toBe(`writer ${winner}`);
        expect(text(await other.get('ep/x/k.l1'))).toBe(`writer ${winner}`);
      }),
    );

    it(
      'keeps records written with unique like any other, also for another replica',
      use(async (h) => {
        const events = eventsOf(h);
        const other = (await h.replica?.())?.events ?? events;
        expect(await events.put('queue/0002-b', bytes('b'), { unique: true })).toBe(true);
        await events.put('queue/0001-a', bytes('a'));
        await events.put('queue/0003-c', bytes('c'), { unique: true, durable: false });
        await events.put('queue/sub/x', bytes('deeper'), { unique: true });
        expect(await other.list('queue')).toEqual(['0001-a', '0002-b', '0003-c']);
        expect(await other.list('queue', { after: '0001-a', limit: 1 })).toEqual(['0002-b']);
        expect(text(await other.get('queue/0002-b'))).toBe('b');
        await other.delete(['queue/0002-b', 'queue/0001-a']);
        expect(await events.get('queue/0002-b')).toBeNull();
        expect(await events.list('queue')).toEqual(['0003-c']);
        expect(text(await events.get('queue/0003-c'))).toBe('c');
        expect(text(await other.get('queue/sub/x'))).toBe('deeper');
      }),
    );

    it(
      'lists the records directly in a folder, in byte order, page by page',
      use(async (h) => {
        const events = eventsOf(h);
        const names = ['b', 'a', 'C', '0001-x', 'a.done', 'a.l0', 'z_z'];
        for (const name of names) await events.put(`ep/one/${name}`, bytes(name));
        await events.put('ep/one-more/a', bytes('sibling folder'));
        await events.put('ep/one/deeper/a', bytes('deeper folder'));
        await events.put('ep/on', bytes('a record named like a prefix'));
        const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(await events.list('ep/one')).toEqual(sorted);
        expect(await events.list('ep/one', { limit: 3 })).toEqual(sorted.slice(0, 3));
        expect(await events.list('ep/one', { after: sorted[2]!, limit: 3 })).toEqual(sorted.slice(3, 6));
        expect(await events.list('ep/one', { after: sorted[6]! })).toEqual([]);
        expect(await events.list('ep/nothing-here')).toEqual([]);
        expect(await events.list('ep')).toEqual(['on']);
      }),
    );

    it(
      'refuses keys that could leave the event area',
      use(async (h) => {
        const events = eventsOf(h);
        for (const key of [
          '',
          '../x',
          'queue/../../x',
          'queue//x',
          '/queue/x',
          'queue/x/',
          'queue/a b',
          'q/\u0000',
        ]) {
          const error = await events.put(key, bytes('x')).catch((e: unknown) => e);
          expect(isStoreError(error, 'invalid-key'), JSON.stringify(key)).toBe(true);
        }
      }),
    );

    it(
      'shares records with another replica and leaves nothing behind once they are deleted',
      use(async (h) => {
        const events = eventsOf(h);
        const before = (await h.inspect?.()) ?? [];
        const other = (await h.replica?.())?.events ?? events;
        await events.put('queue/0001', bytes('{"events":[]}'));
        await other.put('dead/x/0001', bytes('letter'));
        expect(text(await other.get('queue/0001'))).toBe('{"events":[]}');
        expect(await events.list('dead/x')).toEqual(['0001']);
        await other.delete(['queue/0001']);
        await events.delete(['dead/x/0001']);
        expect(await events.list('queue')).toEqual([]);
        if (h.inspect) expect(await h.inspect()).toEqual(before);
      }),
    );
  });
}
