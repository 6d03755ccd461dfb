import { createHmac } from 'node:crypto';
import {
  createMemoryStorage,
  type EventDelivery,
  type EventStore,
  type Registry,
  type RegistryEvent,
  type RegistryOptions,
} from '@wharf/core';
import { makeImage, parseDistributionEnvelope, type Receiver, startReceiver } from '@wharf/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

const opened: Registry[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const registry of opened.splice(0)) await registry.close();
  for (const receiver of receivers.splice(0)) await receiver.close();
});

function open(options: RegistryOptions) {
  const made = setup(options);
  opened.push(made.registry);
  return made;
}

/** A transport that records what it was handed and fails while `failing` says so. */
function recording(failing: (delivery: EventDelivery) => boolean = () => false) {
  const deliveries: EventDelivery[] = [];
  const transport = (delivery: EventDelivery) => {
    if (failing(delivery)) throw new Error('receiver unavailable');
    deliveries.push(delivery);
  };
  return { deliveries, transport };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('events', () => {
  it('stamps events with id, time, actor, request and source, and records them before answering', async () => {
    const seen: RegistryEvent[] = [];
    const { registry, client } = open({
      authorize: () => ({ allow: true, user: 'alice' }),
      onEvent: (event) => {
        seen.push(event);
      },
      events: {
        autoStart: false,
        source: { instanceId: 'replica-1', addr: 'registry-1:5000' },
        endpoints: [{ name: 'hook', transport: () => undefined }],
      },
    });
    const image = makeImage({ layers: [100] });
    const res = await client.request('POST', `/v2/team/app/blobs/uploads/?digest=${image.config.digest}`, {
      body: image.config.bytes,
      headers: { 'User-Agent': 'docker/27.0', 'X-Request-Id': 'req-7' },
    });
    expect(res.status).toBe(201);
    // Recorded in the outbox by the time the client has its 201.
    const pending = await registry.events!.pending();
    expect(pending).toHaveLength(1);
    const [event] = pending[0]!.events;
    expect(event).toMatchObject({
      type: 'blob.pushed',
      repository: 'team/app',
      digest: image.config.digest,
      size: image.config.bytes.byteLength,
      actor: { name: 'alice' },
      request: { id: 'req-7', method: 'POST', userAgent: 'docker/27.0' },
      source: { instanceId: 'replica-1', addr: 'registry-1:5000' },
    });
    expect(event!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.now() - Date.parse(event!.timestamp)).toBeLessThan(60_000);
    expect(pending[0]!.endpoints).toEqual([{ endpoint: 'hook', state: 'pending', attempts: 0 }]);
    expect(seen).toEqual([event]);
  });

  it('does not acknowledge a change whose event cannot be recorded', async () => {
    const storage = createMemoryStorage();
    const broken: EventStore = {
      ...storage.events!,
      put: async () => Promise.reject(new Error('outbox disk on fire')),
    };
    const seen: RegistryEvent[] = [];
    const errors: unknown[] = [];
    const { client } = open({
      storage: { ...storage, events: broken },
      onEvent: (event) => {
        seen.push(event);
      },
      logger: { error: (fields) => errors.push(fields.err) },
      events: { endpoints: [{ name: 'hook', transport: () => undefined }] },
    });
    const image = makeImage();
    const res = await client.request('POST', `/v2/repo/blobs/uploads/?digest=${image.config.digest}`, {
      body: image.config.bytes,
    });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNKNOWN');
    expect(seen).toEqual([]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['outbox disk on fire']);
    // Pulls and other reads record nothing, so they still work.
    expect((await client.request('GET', '/v2/')).status).toBe(200);
  });

  it("posts distribution's envelope, signed, that a distribution consumer parses; and CloudEvents", async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const { client } = open({
      authorize: () => ({ allow: true, user: 'ci-bot' }),
      events: {
        baseUrl: 'https://registry.example',
        pollInterval: 50,
        endpoints: [
          {
            name: 'dist',
            url: `${receiver.url}?f=dist`,
            secret: 's3cret',
            headers: { Authorization: 'Bearer t' },
          },
          {
            name: 'cloud',
            url: `${receiver.url}?f=cloud`,
            format: 'cloudevents',
            types: ['manifest.pushed'],
          },
        ],
      },
    });
    const image = makeImage({ artifactType: 'application/vnd.example.sbom' });
    await client.pushImage('team/app', 'v1', image);
    type Received = (typeof receiver.received)[number];
    const isDist = (r: Received) => r.path.endsWith('f=dist');
    const distEvents = (all: readonly Received[]) =>
      all
        .filter(isDist)
        .flatMap((r) => parseDistributionEnvelope(r.headers['content-type'], r.body.toString()));
    // Three events (two blobs, the manifest) in one request or several, as the dispatcher grouped them.
    await receiver.waitFor(
      (all) =>
        distEvents(all).length === 3 && all.some((r) => !isDist(r) && r.body.includes(image.manifest.digest)),
    );

    const dist = receiver.received.filter(isDist);
    for (const request of dist) {
      const expected = `sha256=${createHmac('sha256', 's3cret').update(request.body).digest('hex')}`;
      expect(request.headers['x-wharf-signature-256']).toBe(expected);
      expect(request.headers.authorization).toBe('Bearer t');
    }
    const events = distEvents(receiver.received);
    expect(events).toHaveLength(3);
    const manifest = events.find((e) => e.target.digest === image.manifest.digest)!;
    expect(manifest).toMatchObject({
      action: 'push',
      target: {
        mediaType: image.mediaType,
        digest: image.manifest.digest,
        size: image.manifest.bytes.byteLength,
        length: image.manifest.bytes.byteLength,
        repository: 'team/app',
        url: `https://registry.example/v2/team/app/manifests/${image.manifest.digest}`,
        tag: 'v1',
      },
      request: { method: 'PUT' },
      actor: { name: 'ci-bot' },
    });
    expect(manifest.source.instanceID).toMatch(/./);
    const blob = events.find((e) => e.target.digest === image.layers[0]!.digest)!;
    expect(blob.target).toMatchObject({ mediaType: 'application/octet-stream', repository: 'team/app' });

    const [cloud] = receiver.received.filter((r) => r.path.endsWith('f=cloud'));
    expect(cloud!.headers['content-type']).toBe('application/cloudevents+json');
    expect(cloud!.json()).toMatchObject({
      specversion: '1.0',
      type: 'wharf.manifest.pushed',
      source: 'https://registry.example',
      subject: `team/app@${image.manifest.digest}`,
      id: manifest.id,
      datacontenttype: 'application/json',
      data: {
        repository: 'team/app',
        tags: ['v1'],
        mediaType: image.mediaType,
        artifactType: 'application/vnd.example.sbom',
        actor: { name: 'ci-bot' },
      },
    });
  });

  it('filters by type, repository pattern, action and media type', async () => {
    const all = recording();
    const some = recording();
    const { registry, client } = open({
      events: {
        pollInterval: 20,
        endpoints: [
          { name: 'all', transport: all.transport },
          {
            name: 'some',
            transport: some.transport,
            repositories: ['team/**'],
            ignore: { actions: ['delete'] },
            ignoredMediaTypes: ['application/octet-stream'],
          },
        ],
      },
    });
    const image = makeImage();
    await client.pushImage('team/app', 'v1', image);
    await client.pushImage('other', 'v1', image);
    await client.request('DELETE', '/v2/team/app/manifests/v1');
    const types = (d: EventDelivery[]) => d.flatMap((x) => x.events.map((e) => `${e.type} ${e.repository}`));
    await until(
      async () => (await registry.events!.pending()).length === 0 && types(all.deliveries).length === 7,
    );
    expect(types(all.deliveries)).toHaveLength(7);
    expect(types(some.deliveries)).toEqual(['manifest.pushed team/app']);
  });

  it('retries with backoff, dead-letters after maxAttempts, and replays on request', async () => {
    let down = true;
    const hook = recording(() => down);
    const { registry, client } = open({
      events: {
        pollInterval: 20,
        endpoints: [{ name: 'hook', transport: hook.transport, backoff: 10, maxAttempts: 3, threshold: 100 }],
      },
    });
    const image = makeImage();
    await client.pushBlob('repo', image.config.bytes, 'single-post');
    await until(async () => (await registry.events!.deadLetters()).length === 1);
    const [letter] = await registry.events!.deadLetters('hook');
    expect(letter).toMatchObject({ endpoint: 'hook', attempts: 3, error: 'receiver unavailable' });
    expect(letter!.events[0]).toMatchObject({ type: 'blob.pushed', digest: image.config.digest });
    expect(registry.events!.stats()).toEqual([
      { endpoint: 'hook', delivered: 0, failed: 3, deadLettered: 1, pending: expect.any(Number) },
    ]);
    await until(async () => (await registry.events!.pending()).length === 0);
    expect(hook.deliveries).toHaveLength(0);

    down = false;
    expect(await registry.events!.replay('hook')).toBe(1);
    await until(() => hook.deliveries.length === 1);
    expect(hook.deliveries[0]!.events[0]!.id).toBe(letter!.events[0]!.id);
    expect(await registry.events!.deadLetters()).toEqual([]);
    await expect(registry.events!.replay('nope')).rejects.toThrow(/"nope" is not configured/);
  });

  it('keeps each repository in order while a batch is retried, without holding back the others', async () => {
    let failures = 3;
    const hook = recording((d) => d.events.some((e) => e.repository === 'a') && failures-- > 0);
    const { registry, client } = open({
      events: {
        pollInterval: 20,
        endpoints: [{ name: 'hook', transport: hook.transport, backoff: 50, threshold: 100 }],
      },
    });
    const blobs = Array.from({ length: 4 }, (_, i) => makeImage({ label: String(i) }).config);
    for (const blob of blobs) {
      await client.pushBlob('a', blob.bytes, 'single-post');
      await client.pushBlob('b', blob.bytes, 'single-post');
    }
    const delivered = () => hook.deliveries.flatMap((d) => d.events);
    await until(async () => delivered().length === 8 && (await registry.events!.pending()).length === 0);
    const order = (repository: string) =>
      delivered()
        .filter((e) => e.repository === repository)
        .map((e) => 'digest' in e && e.digest);
    expect(order('a')).toEqual(blobs.map((b) => b.digest));
    expect(order('b')).toEqual(blobs.map((b) => b.digest));
    // b's events went through while a's first batch waited for its retries.
    expect(delivered().findIndex((e) => e.repository === 'a')).toBeGreaterThan(0);
    const [stats] = registry.events!.stats();
    expect(stats!.delivered).toBe(8);
    expect(stats!.failed).toBeGreaterThanOrEqual(3);
  });

  it('records what garbage collection swept', async () => {
    const hook = recording();
    const { registry, client } = open({
      events: { pollInterval: 20, endpoints: [{ name: 'hook', transport: hook.transport }] },
    });
    const image = makeImage();
    await client.pushImage('repo', 'v1', image);
    await client.request('DELETE', '/v2/repo/manifests/v1');
    // Collection takes what is strictly older than its cutoff; a push in the same millisecond stays.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const report = await registry.gc({ gracePeriod: 0, deleteUntagged: true });
    expect(report.deleted.manifests).toHaveLength(1);
    await until(() => hook.deliveries.some((d) => d.events.some((e) => e.type === 'gc.swept')));
    const swept = hook.deliveries.flatMap((d) => d.events).filter((e) => e.type === 'gc.swept');
    expect(swept).toEqual([
      expect.objectContaining({ repository: 'repo', manifests: [image.manifest.digest] }),
      expect.objectContaining({ blobs: report.deleted.blobs.length, bytesReclaimed: report.bytesReclaimed }),
    ]);
    // No request caused them; the summary names no repository.
    expect(swept.map((e) => [e.repository, e.request])).toEqual([
      ['repo', undefined],
      [undefined, undefined],
    ]);
  });

  it('refuses bad endpoint options with one clear message', () => {
    const bad = (endpoint: object) => () =>
      setup({ events: { endpoints: [{ name: 'x', ...endpoint } as never] } });
    expect(bad({})).toThrow('createRegistry: option "events.endpoints["x"].url" or a transport is required');
    expect(bad({ url: 'ftp://x' })).toThrow('must be an http or https URL');
    expect(bad({ url: 'http://x', timeout: -1 })).toThrow(
      '"events.endpoints["x"].timeout" must be a positive number',
    );
    expect(bad({ url: 'http://x', concurrency: 1.5 })).toThrow(
      '"events.endpoints["x"].concurrency" must be a whole number ≥ 1',
    );
    expect(bad({ url: 'http://x', retries: 3 })).toThrow(
      '"events.endpoints["x"].retries" is not an option here',
    );
    expect(bad({ url: 'http://x', headers: { 'X-A': 1 } })).toThrow(
      '"events.endpoints["x"].headers.X-A" must be',
    );
    expect(() => setup({ events: { pollInterval: 0, endpoints: [{ name: 'x', url: 'http://x' }] } })).toThrow(
      '"events.pollInterval" must be a positive number',
    );
    expect(() => setup({ events: { endpoints: [{ name: 'a b', url: 'http://x' }] } })).toThrow(
      /letters, digits/,
    );
    expect(() =>
      setup({
        storage: { ...createMemoryStorage(), events: undefined },
        events: { endpoints: [{ name: 'x', url: 'http://x' }] },
      }),
    ).toThrow('need a storage with an event store');
  });
});
