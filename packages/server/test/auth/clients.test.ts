import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasTool,
  layoutBlob,
  layoutDigest,
  makeRealImage,
  type ServerProcess,
  sha256,
  startServer,
  type TestImage,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  exec,
  execOk,
  listFiles,
  type Outcome,
  scratch,
  USERS,
  writeHtpasswd,
} from './helpers.js';

/**
 * skopeo and podman against the example server with basic and with token authentication: login
 * (wrong and right passwords), push and pull as the owner of a namespace, and a clean denial for a
 * user without push there — with nothing left in storage.
 *
 * The server's default rules apply: signed-in users pull everything and push to `<user>/**`.
 */

const MODES = ['basic', 'token'] as const;
const TLS = '--tls-verify=false';
const TEST_TIMEOUT = 240_000;

function expectDenied(outcome: Outcome, pattern = /denied|unauthorized/i): void {
  expect(outcome.code, outcome.stderr).not.toBe(0);
  expect(outcome.stderr).toMatch(pattern);
}

describe.each(MODES)('%s auth: skopeo and podman against the server', (mode) => {
  let work: Awaited<ReturnType<typeof scratch>>;
  let server: ServerProcess;
  let storageRoot: string;
  let layout: string;
  let image: TestImage;
  let other: TestImage;

  beforeAll(async () => {
    work = await scratch(`wharf-auth-${mode}-`);
    const htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd);
    storageRoot = join(work.dir, 'storage');
    layout = join(work.dir, 'layout');
    image = makeRealImage([{ randomFile: 512 * 1024 }, {}]);
    other = makeRealImage([{ randomFile: 64 * 1024 }]);
    await writeOciLayout(layout, [
      { tag: 'v1', image },
      { tag: 'other', image: other },
    ]);
    server = await startServer({
      env: { WHARF_STORAGE: 'fs', WHARF_ROOT: storageRoot, WHARF_AUTH: mode, WHARF_HTPASSWD: htpasswd },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await work?.remove();
  });

  /** Runs a denied push and checks that storage is exactly as before. */
  async function expectNothingStored(push: () => Promise<Outcome>, repository: string): Promise<Outcome> {
    const before = await listFiles(storageRoot);
    const outcome = await push();
    expect(await listFiles(storageRoot)).toEqual(before);
    const alice = await apiClient(server.url, mode, 'alice', [`repository:${repository}:pull`]);
    expect((await alice.request('GET', `/v2/${repository}/tags/list`)).status).toBe(404);
    for (const blob of [other.config, ...other.layers]) {
      expect((await alice.request('HEAD', `/v2/${repository}/blobs/${blob.digest}`)).status).toBe(404);
    }
    return outcome;
  }

  describe.skipIf(!hasTool('skopeo'))('skopeo', () => {
    const skopeo = (args: string[]) => exec('skopeo', args, work.env);

    it(
      'refuses a wrong password at login, then logs in, pushes and pulls back identical',
      async () => {
        expectDenied(
          await skopeo(['login', TLS, '-u', 'alice', '-p', 'not-the-password', server.host]),
          /unauthorized|invalid username\/password/i,
        );
        await execOk('skopeo', ['login', TLS, '-u', 'alice', '-p', USERS.alice, server.host], work.env);
        const saved = JSON.parse(await readFile(work.env.REGISTRY_AUTH_FILE, 'utf8')) as {
          auths: Record<string, unknown>;
        };
        expect(Object.keys(saved.auths)).toContain(server.host);

        const ref = `docker://${server.host}/alice/skopeo`;
        await execOk(
          'skopeo',
          ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `${ref}:v1`],
          work.env,
        );
        const raw = (await execOk('skopeo', ['inspect', TLS, '--raw', `${ref}:v1`], work.env)).stdout;
        expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);

        const pulled = join(work.dir, 'skopeo-pulled');
        await execOk('skopeo', ['copy', '--src-tls-verify=false', `${ref}:v1`, `oci:${pulled}:v1`], work.env);
        expect(await layoutDigest(pulled, 'v1')).toBe(image.manifest.digest);
        for (const blob of [image.config, ...image.layers]) {
          expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
        }
        await execOk('skopeo', ['logout', server.host], work.env);
      },
      TEST_TIMEOUT,
    );

    it(
      'denies a user without push, and an anonymous client, cleanly: nothing is stored',
      async () => {
        await execOk('skopeo', ['login', TLS, '-u', 'bob', '-p', USERS.bob, server.host], work.env);
        const ref = `docker://${server.host}/alice/skopeo-denied:v1`;
        const asBob = await expectNothingStored(
          () => skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:other`, ref]),
          'alice/skopeo-denied',
        );
        expectDenied(asBob, /denied/i);
        // Bob may still pull alice's image (signed-in users pull everything by default).
        expect(
          (await skopeo(['inspect', TLS, '--raw', `docker://${server.host}/alice/skopeo:v1`])).code,
        ).toBe(0);
        await execOk('skopeo', ['logout', server.host], work.env);

        const anonymous = await expectNothingStored(
          () => skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:other`, ref]),
          'alice/skopeo-denied',
        );
        expectDenied(anonymous);
      },
      TEST_TIMEOUT,
    );
  });

  describe.skipIf(!hasTool('podman'))('podman', () => {
    let podmanArgs: string[];
    const podman = (args: string[]) => exec('podman', [...podmanArgs, ...args], work.env);
    const podmanOk = (args: string[]) => execOk('podman', [...podmanArgs, ...args], work.env);
    const imageId = () => image.config.digest.slice('sha256:'.length);
    // podman names an image pulled from a layout after its path, which must be lowercase: use a
    // relative one.
    const pullLayout = (tag: string) =>
      execOk('podman', [...podmanArgs, 'pull', '-q', `oci:layout:${tag}`], work.env, work.dir);

    beforeAll(async () => {
      // Private storage and state: nothing touches the machine's own podman setup.
      podmanArgs = [
        '--root',
        join(work.dir, 'podman-root'),
        '--runroot',
        join(work.dir, 'podman-runroot'),
        '--storage-driver',
        'vfs',
        '--events-backend',
        'file',
      ];
      await pullLayout('v1');
    }, TEST_TIMEOUT);

    afterAll(async () => {
      if (podmanArgs) await podman(['rmi', '-af']);
    });

    it(
      'refuses a wrong password at login, then logs in, pushes and pulls back',
      async () => {
        expectDenied(
          await podman(['login', TLS, '-u', 'alice', '-p', 'not-the-password', server.host]),
          /unauthorized|invalid username\/password/i,
        );
        await podmanOk(['login', TLS, '-u', 'alice', '-p', USERS.alice, server.host]);
        const ref = `${server.host}/alice/podman:v1`;
        await podmanOk(['push', '-q', TLS, imageId(), ref]);
        const alice = await apiClient(server.url, mode, 'alice', ['repository:alice/podman:pull']);
        expect(await alice.tags('alice/podman')).toEqual(['v1']);

        await podmanOk(['rmi', '-af']);
        await podmanOk(['pull', '-q', TLS, ref]);
        // The image id is the config digest: the config came back byte for byte.
        const id = (await podmanOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
        expect(id).toBe(imageId());
        await podmanOk(['logout', server.host]);
      },
      TEST_TIMEOUT,
    );

    it(
      'denies a user without push, and an anonymous client, cleanly: nothing is stored',
      async () => {
        await pullLayout('other');
        const otherId = other.config.digest.slice('sha256:'.length);
        await podmanOk(['login', TLS, '-u', 'bob', '-p', USERS.bob, server.host]);
        const ref = `${server.host}/alice/podman-denied:v1`;
        const asBob = await expectNothingStored(
          () => podman(['push', TLS, otherId, ref]),
          'alice/podman-denied',
        );
        expectDenied(asBob, /denied/i);
        await podmanOk(['logout', server.host]);

        const anonymous = await expectNothingStored(
          () => podman(['push', TLS, otherId, ref]),
          'alice/podman-denied',
        );
        expectDenied(anonymous);
      },
      TEST_TIMEOUT,
    );
  });
});
