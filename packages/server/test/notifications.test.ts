import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import {
  makeImage,
  OciClient,
  parseDistributionEnvelope,
  type Receiver,
  type ServerProcess,
  startReceiver,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { parseEventsArguments } from '../src/events/command.js';
import { debugUrlOf, metric, serveConfig, type TempDir, tempDir, wharf } from './helpers.js';

const SECRET = 'notification signing key';

describe('notifications through the wharf binary', () => {
  let temp: TempDir;
  let server: ServerProcess;
  let debug: string;
  let config: string;
  let hook: Receiver;
  let flaky: Receiver;

  beforeAll(async () => {
    temp = await tempDir('wharf-notify-');
    hook = await startReceiver();
    flaky = await startReceiver();
    flaky.status = 503;
    config = await temp.file(
      'config.yml',
      `version: 0.1
log: { level: info, formatter: json, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: ${join(temp.dir, 'root')} }
http:
  addr: 127.0.0.1:0
  debug:
    addr: 127.0.0.1:0
    prometheus: { enabled: true }
notifications:
  endpoints:
    - name: hook
      url: ${hook.url}
      headers: { Authorization: [Bearer hook-token] }
      timeout: 2s
      secret: ${SECRET}
      ignore: { actions: [pull] }
    - name: flaky
      url: ${flaky.url}
      backoff: 10ms
      maxattempts: 2
    - name: paused
      url: http://127.0.0.1:9/never
      disabled: true
`,
    );
    server = await serveConfig(config);
    debug = debugUrlOf(server);
  });

  afterAll(async () => {
    await server?.stop();
    await hook?.close();
    await flaky?.close();
    await temp?.remove();
  });

  it('delivers a push to a configured endpoint as distribution’s signed envelope, and counts it', async () => {
    const image = makeImage({ layers: [1024] });
    const digest = await new OciClient(server.url).pushImage('team/app', 'v1', image);
    const pushed = () =>
      hook.received
        .flatMap((r) => parseDistributionEnvelope(r.headers['content-type'], r.body.toString('utf8')))
        .find((event) => event.target.mediaType === image.mediaType);
    await hook.waitFor(() => pushed() !== undefined, 10_000);
    expect(pushed()).toMatchObject({
      action: 'push',
      target: { repository: 'team/app', digest, tag: 'v1', size: image.manifest.bytes.length },
    });
    for (const request of hook.received) {
      expect(request.headers.authorization).toBe('Bearer hook-token');
      expect(request.headers['x-wharf-signature-256']).toBe(
        `sha256=${createHmac('sha256', SECRET).update(request.body).digest('hex')}`,
      );
    }
    const events = hook.received.flatMap((r) => r.json<{ events: unknown[] }>().events).length;
    // The config blob, the layer and the manifest.
    expect(events).toBe(3);
    await expect
      .poll(() => metric(debug, 'wharf_notifications_delivered_events_total', { endpoint: 'hook' }))
      .toBe(3);
    // A disabled endpoint is not configured at all.
    expect(await metric(debug, 'wharf_notifications_failed_attempts_total', { endpoint: 'paused' })).toBe(0);
    expect(
      (await (await fetch(`${debug}/metrics`)).text()).includes('endpoint="paused"'),
      'no series for a disabled endpoint',
    ).toBe(false);
  });

  it('dead-letters what an endpoint keeps refusing; wharf events lists it and replay delivers it', async () => {
    // The push of the first test was refused by `flaky` twice per batch (maxattempts: 2).
    await expect
      .poll(() => metric(debug, 'wharf_notifications_dead_lettered_events_total', { endpoint: 'flaky' }), {
        timeout: 10_000,
      })
      .toBe(3);
    expect(await metric(debug, 'wharf_notifications_failed_attempts_total', { endpoint: 'flaky' })).toBe(6);
    expect(flaky.received).toHaveLength(0);

    const listed = await wharf(['events', 'list', config]);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const dead = listed.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(dead.map(([state, endpoint]) => `${state} ${endpoint}`)).toEqual(
      Array(3).fill('dead-lettered flaky'),
    );
    expect(dead.map((columns) => columns[4]).join('\n')).toContain('manifest.pushed team/app@sha256:');
    expect(listed.stdout).toContain('error="http://127.0.0.1:');

    expect(dead.map((columns) => columns[5])).toEqual(Array(3).fill('attempts=2'));
    // One discarded by key, the others replayed to a receiver that now accepts.
    const [first, ...others] = dead.map((columns) => columns[2]!);
    const discarded = await wharf(['events', 'discard', config, '--endpoint', 'flaky', '--key', first!]);
    expect(discarded).toMatchObject({ code: 0, stdout: 'discarded 1 dead-lettered batch for flaky\n' });
    flaky.status = 200;
    const replayed = await wharf(['events', 'replay', config, '--endpoint=flaky']);
    expect(replayed).toMatchObject({ code: 0, stdout: 'replayed 2 dead-lettered batches for flaky\n' });
    await flaky.waitFor((received) => received.length === others.length, 10_000);
    const replayedEvents = flaky.received.flatMap((r) =>
      parseDistributionEnvelope(r.headers['content-type'], r.body.toString('utf8')),
    );
    expect(replayedEvents).toHaveLength(2);
    await expect
      .poll(() => metric(debug, 'wharf_notifications_delivered_events_total', { endpoint: 'flaky' }))
      .toBe(2);
    expect((await wharf(['events', 'list', config])).stdout).toBe('');
    expect(hook.received.flatMap((r) => r.json<{ events: unknown[] }>().events)).toHaveLength(3);
  });

  it('refuses what it cannot do with one line', async () => {
    const none = await temp.file('plain.yml', 'storage: { inmemory: {} }\n');
    const [unknown, unconfigured] = await Promise.all([
      wharf(['events', 'replay', config, '--endpoint', 'nope']),
      wharf(['events', 'list', none]),
    ]);
    expect(unknown).toMatchObject({
      code: 2,
      stderr: 'wharf events: endpoint "nope" is not configured (configured: hook, flaky)\n',
    });
    expect(unconfigured).toMatchObject({
      code: 2,
      stderr: 'wharf events: no notification endpoint is configured (notifications.endpoints)\n',
    });
    expect(parseEventsArguments(['discard'])).toEqual({ error: 'discard needs --endpoint' });
    expect(parseEventsArguments(['replay', '--key', 'k'])).toEqual({ error: '--key needs --endpoint' });
    expect(parseEventsArguments(['list', 'a.yml', 'b.yml'])).toEqual({
      error: 'unexpected argument "b.yml"',
    });
    expect(parseEventsArguments(['redo'])).toEqual({ error: 'unknown action "redo"' });
  });
});

describe('the notifications section', () => {
  it('maps distribution’s endpoint keys and reports the keys wharf does not implement', async () => {
    const temp = await tempDir('wharf-notify-config-');
    try {
      const file = await temp.file(
        'config.yml',
        `storage: { inmemory: {} }
notifications:
  events: { includereferences: true }
  endpoints:
    - name: ci
      url: https://ci.example/hook
      timeout: 500ms
      threshold: 3
      backoff: 2s
      ignoredmediatypes: [application/octet-stream]
      ignore: { mediatypes: [text/plain], actions: [pull, mount] }
      format: cloudevents
      ordering: none
      maxattempts: 5
`,
      );
      const { settings, problems } = await loadConfig({ file, env: {} });
      expect(problems.map((p) => `${p.severity} ${p.path}`)).toEqual([
        'warning notifications.events.includereferences',
      ]);
      expect(settings?.events).toEqual({
        pulls: false,
        endpoints: [
          {
            name: 'ci',
            url: 'https://ci.example/hook',
            format: 'cloudevents',
            timeout: 500,
            threshold: 3,
            backoff: 2000,
            maxBackoff: 300_000,
            maxAttempts: 5,
            ordering: 'none',
            concurrency: 4,
            ignoredMediaTypes: ['application/octet-stream', 'text/plain'],
            ignore: { actions: ['pull', 'mount'] },
          },
        ],
      });
      const bad = await temp.file(
        'bad.yml',
        `storage: { inmemory: {} }
notifications:
  endpoints:
    - { name: a, url: ftp://x }
    - { name: b, url: http://x, retries: 3 }
    - { name: b, url: http://y }
`,
      );
      const refused = await loadConfig({ file: bad, env: {} });
      expect(refused.settings).toBeUndefined();
      expect(refused.problems.map((p) => `${p.severity} ${p.path}`)).toEqual([
        'error notifications.endpoints.0.url',
        'error notifications.endpoints.1.retries',
      ]);
      const twice = await temp.file(
        'twice.yml',
        'notifications: { endpoints: [{ name: b, url: "http://x" }, { name: b, url: "http://y" }] }\n',
      );
      expect((await loadConfig({ file: twice, env: {} })).problems.map((p) => p.message)).toContain(
        'b is used twice',
      );
    } finally {
      await temp.remove();
    }
  });
});
