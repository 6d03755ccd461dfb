import { createRegistry, type Registry, type RegistryEvent } from '@wharf/core';
import {
  OciClient,
  parseDistributionEnvelope,
  type Receiver,
  randomContent,
  rounds,
  startReceiver,
} from '@wharf/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Storage } from '../src/index.js';
import { awsClient, contents, env, useBucket } from './helpers.js';

/** Pushes split between the replicas (the full count under WHARF_STRESS=1). */
const PUSHES = rounds(40, 200);
const REPOSITORIES = ['one', 'two', 'three', 'four'];

describe.skipIf(!env)('durable notifications on S3', () => {
  const s3 = useBucket('events');
  const closers: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it(`two replicas on one bucket deliver ${PUSHES} pushes: none lost, duplicates counted`, {
    timeout: 300_000,
  }, async () => {
    const hook: Receiver = await startReceiver();
    closers.push(() => hook.close());
    const recorded: RegistryEvent[] = [];
    const replica = (name: string): { registry: Registry; client: OciClient } => {
      const client = awsClient(env!);
      closers.push(() => client.destroy());
      const registry = createRegistry({
        storage: createS3Storage({ client, bucket: s3.bucket, prefix: 'shared' }),
        onEvent: (event) => {
          recorded.push(event);
        },
        events: {
          source: { instanceId: name },
          pollInterval: 100,
          endpoints: [{ name: 'hook', url: hook.url, backoff: 100, maxBackoff: 1000 }],
        },
      });
      closers.push(() => registry.close());
      return {
        registry,
        client: new OciClient('http://registry.local', (i, init) => registry.fetch(i, init)),
      };
    };
    const replicas = [replica('replica-a'), replica('replica-b')];
    for (let i = 0; i < PUSHES; i++) {
      const { client } = replicas[i % 2]!;
      await client.pushBlob(REPOSITORIES[i % REPOSITORIES.length]!, randomContent(256).bytes, 'single-post');
    }
    expect(recorded).toHaveLength(PUSHES);
    await hook.waitFor(
      (all) =>
        new Set(
          all.flatMap((r) =>
            parseDistributionEnvelope(r.headers['content-type'], r.body.toString()).map((e) => e.id),
          ),
        ).size === PUSHES,
      120_000,
    );
    const events = hook.received.flatMap((r) =>
      parseDistributionEnvelope(r.headers['content-type'], r.body.toString()),
    );
    const duplicates = events.length - new Set(events.map((e) => e.id)).size;
    console.log(`two replicas, ${PUSHES} pushes: ${events.length} deliveries, ${duplicates} duplicates`);
    expect(new Set(events.map((e) => e.id))).toEqual(new Set(recorded.map((e) => e.id)));
    // Both replicas took part in delivering.
    const delivered = () => replicas.map(({ registry }) => registry.events!.stats()[0]!.delivered);
    await expect.poll(() => delivered()[0]! + delivered()[1]!).toBe(events.length);
    expect(delivered().every((n) => n > 0)).toBe(true);
    expect(duplicates).toBeLessThanOrEqual(PUSHES * 0.05);
    for (const repo of REPOSITORIES) {
      const firstArrivals = [
        ...new Map(events.filter((e) => e.target.repository === repo).map((e) => [e.id, e])).keys(),
      ];
      expect(firstArrivals).toEqual(recorded.filter((e) => e.repository === repo).map((e) => e.id));
    }
    // Once every endpoint is done, the outbox is empty again.
    await expect
      .poll(async () => contents(s3.admin, s3.bucket, 'shared/docker/registry/v2/_wharf/events/'), {
        timeout: 20_000,
      })
      .toEqual([]);
  });
});
