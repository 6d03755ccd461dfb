import type { Clock } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

const HOUR = 60 * 60 * 1000;

/** A clock moved by hand. */
function manualClock(start = Date.parse('2030-01-01T00:00:00Z')): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

describe('the clock option', () => {
  it('ages unreferenced blobs for garbage collection without waiting', async () => {
    const clock = manualClock();
    const { registry, client } = setup({ clock });
    const digest = await client.pushBlob('team/app', Buffer.from('an orphan blob'));

    const early = await registry.gc({ gracePeriod: HOUR });
    expect(early.deleted.blobs).toEqual([]);
    expect(early.startedAt.getTime()).toBe(clock.now());

    clock.advance(2 * HOUR);
    const late = await registry.gc({ gracePeriod: HOUR });
    expect(late.deleted.blobs.map((b) => b.digest)).toEqual([digest]);
    expect(late.deleted.links.map((l) => l.digest)).toEqual([digest]);
    expect((await client.request('HEAD', `/v2/team/app/blobs/${digest}`)).status).toBe(404);
  });

  it('ages idle upload sessions', async () => {
    const clock = manualClock();
    const { registry, client } = setup({ clock });
    const location = await client.startUpload('team/app');

    expect((await registry.gc({ uploadMaxAge: HOUR })).deleted.uploads).toEqual([]);
    clock.advance(HOUR + 1);
    const report = await registry.gc({ uploadMaxAge: HOUR });
    expect(report.deleted.uploads).toHaveLength(1);
    expect((await client.request('GET', location)).status).toBe(404);
  });

  it('dates what the in-memory stores record', async () => {
    const clock = manualClock(Date.parse('2031-05-06T07:08:09Z'));
    const { registry, client } = setup({ clock });
    const digest = await client.pushBlob('team/app', Buffer.from('dated'));
    expect((await registry.storage.blobs.stat(digest))?.modifiedAt?.toISOString()).toBe(
      '2031-05-06T07:08:09.000Z',
    );
  });
});
