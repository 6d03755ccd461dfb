import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { type AccessRule, basicAuth, createTokenAuth, staticUsers } from '@wharf/auth';
import { type Authorizer, createRegistry, type Registry, type RequestFinishedEvent } from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { makeRealImage, OciClient, type RealImage, sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunDockerd, type PrivateDocker, startDockerd } from './dockerd.js';

/**
 * The docker CLI (through a private dockerd) against wharf with Basic and with token auth: a push
 * to the user's own namespace works, and a push elsewhere fails at once with docker's "denied",
 * instead of being retried for about a minute as docker does for a bare `DENIED`.
 */

const PASSWORD = `alice-${Math.random().toString(36).slice(2)}`;
const USERS = staticUsers({ alice: PASSWORD });
/** Signed-in users pull everything and push to their own namespace. */
const RULES: AccessRule[] = [
  { users: '*', actions: ['pull'] },
  { users: '*', repositories: '{user}/**', actions: ['pull', 'push', 'delete'] },
];
const MODES = ['basic', 'token'] as const;

interface Target {
  readonly registry: Registry;
  readonly host: string;
  /** Every request the registry answered, in order. */
  readonly requests: RequestFinishedEvent[];
  close(): Promise<void>;
}

async function startRegistry(mode: (typeof MODES)[number]): Promise<Target> {
  const requests: RequestFinishedEvent[] = [];
  const token = mode === 'token' ? createTokenAuth({ users: USERS, rules: RULES }) : undefined;
  const authorize: Authorizer = token ? token.authorize : basicAuth({ users: USERS, rules: RULES });
  const registry = createRegistry({
    authorize,
    logger: {},
    observer: { requestFinished: (event) => requests.push(event) },
  });
  const handler = createHandler(registry);
  const server: Server = createServer((req, res) =>
    token && req.url?.split('?')[0] === '/token' ? token.issuer.listener(req, res) : handler(req, res),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    registry,
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(!canRunDockerd())('docker CLI', () => {
  let targets: Record<(typeof MODES)[number], Target>;
  let docker: PrivateDocker;
  let image: RealImage;

  beforeAll(async () => {
    targets = { basic: await startRegistry('basic'), token: await startRegistry('token') };
    docker = await startDockerd(Object.values(targets).map((t) => t.host));
    image = makeRealImage([{ randomFile: 64 * 1024 }, { randomFile: 1024 }]);
    for (const target of Object.values(targets)) {
      // Seeded through an unguarded registry over the same stores.
      const seed = createRegistry({ storage: target.registry.storage, logger: {} });
      await new OciClient('http://registry.local', (input, init) => seed.fetch(input, init)).pushImage(
        'alice/base',
        'v1',
        image,
      );
    }
  }, 120_000);

  afterAll(async () => {
    await docker?.stop();
    for (const target of Object.values(targets ?? {})) await target.close();
  });

  describe.each(MODES)('with %s auth', (mode) => {
    let target: Target;
    let seed: OciClient;

    beforeAll(async () => {
      target = targets[mode];
      const unguarded = createRegistry({ storage: target.registry.storage, logger: {} });
      seed = new OciClient('http://registry.local', (input, init) => unguarded.fetch(input, init));
      const login = await docker.docker(['login', '--username', 'alice', '--password-stdin', target.host], {
        input: PASSWORD,
      });
      expect(login.code, login.stderr).toBe(0);
      const pull = await docker.docker(['pull', `${target.host}/alice/base:v1`]);
      expect(pull.code, pull.stderr).toBe(0);
    }, 120_000);

    it('pushes to its own namespace, and the manifest docker sent is stored as sent', async () => {
      const ref = `${target.host}/alice/app:v1`;
      expect((await docker.docker(['tag', `${target.host}/alice/base:v1`, ref])).code).toBe(0);
      const push = await docker.docker(['push', ref]);
      expect(push.code, push.stderr).toBe(0);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(digest, push.stdout).toBeDefined();
      const stored = await seed.getManifest('alice/app', 'v1');
      expect(stored.digest).toBe(digest);
      // The same layer contents (docker may recompress them, so compare what they unpack to).
      const layers = (JSON.parse(stored.bytes.toString()) as { layers: Array<{ digest: string }> }).layers;
      const diffIds = await Promise.all(
        layers.map(async (l) => sha256(gunzipSync(await seed.getBlob('alice/app', l.digest)))),
      );
      expect(diffIds).toEqual(image.diffIds);
    }, 120_000);

    it('fails a push outside its namespace at once, with the denial, and stores nothing', async () => {
      const ref = `${target.host}/bob/app:v1`;
      expect((await docker.docker(['tag', `${target.host}/alice/base:v1`, ref])).code).toBe(0);
      const first = target.requests.length;
      // Docker retries a layer push it takes for a transient failure 5 times with growing pauses
      // (about 50 s in all); a refusal it takes for final ends the push well within this timeout.
      const push = await docker.docker(['push', ref], { timeoutMs: 40_000 });
      expect(push.code).not.toBe(0);
      // Basic: the registry's own message; token: what docker says for `insufficient_scope`.
      expect(push.stderr).toMatch(
        mode === 'basic'
          ? /denied: push access to repository "bob\/app" is denied/
          : /denied: requested access to the resource is denied/,
      );
      expect(push.stderr).not.toMatch(/timed out|ETIMEDOUT|SIGTERM/);

      const refused = target.requests
        .slice(first)
        .filter((r) => r.repository === 'bob/app' && r.action === 'push');
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect(r.status).toBe(mode === 'token' ? 401 : 403);
      // Each layer's mount and upload are refused once: nothing is retried.
      const attempts = refused.filter((r) => r.method === 'POST' && r.route === 'blob-upload');
      expect(attempts.length).toBeLessThanOrEqual(2 * image.layers.length);
      expect(await target.registry.storage.metadata.hasRepository('bob/app')).toBe(false);
    }, 60_000);
  });
});
