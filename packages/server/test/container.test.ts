import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasTool,
  makeRealImage,
  REPO_ROOT,
  run,
  type ScratchDir,
  scratch,
  sha256,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers.js';

/**
 * The image the Dockerfile describes, built offline: buildah from scratch with this machine's node
 * binary (and the libraries it links), the server bundled with every dependency, and the image's
 * configuration file; podman runs it, skopeo pushes to it.
 */

const tools = hasTool('buildah') && hasTool('podman') && hasTool('skopeo') && hasTool('runc');
const SERVER = join(REPO_ROOT, 'packages/server');

describe.skipIf(!tools)('the container image', () => {
  let work: ScratchDir;
  let storage: string[];
  const image = `localhost/wharf-test:${randomBytes(4).toString('hex')}`;
  let container: string | undefined;

  const buildah = (args: string[]) => run('buildah', [...storage, ...args], { env: work.env });
  // runc and cgroupfs: work inside containers and CI sandboxes without systemd or cgroup v2.
  const podman = (args: string[]) =>
    run(
      'podman',
      [...storage, '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args],
      {
        env: work.env,
      },
    );

  beforeAll(async () => {
    work = await scratch('wharf-container-');
    // Private image storage: nothing touches the machine's own containers.
    storage = [
      '--root',
      join(work.dir, 'storage'),
      '--runroot',
      join(work.dir, 'run'),
      '--storage-driver',
      'vfs',
    ];
  });

  afterAll(async () => {
    if (container) await podman(['rm', '-f', container]).catch(() => {});
    await podman(['rmi', '-f', image]).catch(() => {});
    await work?.remove();
  });

  it('builds from scratch, runs under podman and takes a push from skopeo', async () => {
    const bundle = join(work.dir, 'bundle');
    await run(join(REPO_ROOT, 'node_modules/.bin/tsup'), [], {
      cwd: SERVER,
      env: { WHARF_BUNDLE_ALL: '1', WHARF_BUNDLE_OUT: bundle },
    });

    const ctr = (await buildah(['from', 'scratch'])).stdout.trim();
    try {
      const node = realpathSync(process.execPath);
      await buildah(['copy', ctr, node, '/usr/local/bin/node']);
      const { stdout } = await run('ldd', [node]);
      for (const lib of stdout.matchAll(/(\/\S+)/g))
        await buildah(['copy', ctr, realpathSync(lib[1]!), lib[1]!]);
      await buildah(['copy', ctr, bundle, '/opt/wharf']);
      await buildah(['copy', ctr, join(SERVER, 'container/config.yml'), '/etc/wharf/config.yml']);
      await buildah([
        'config',
        '--entrypoint',
        '["/usr/local/bin/node", "/opt/wharf/cli.js"]',
        '--cmd',
        'serve',
        '--env',
        'REGISTRY_CONFIGURATION_PATH=/etc/wharf/config.yml',
        '--port',
        '5000',
        ctr,
      ]);
      await buildah(['commit', '-q', ctr, image]);
    } finally {
      await buildah(['rm', ctr]);
    }

    // Host networking, and limits this sandbox allows (podman's defaults exceed its hard limits).
    const runArgs = [
      'run',
      '--network',
      'host',
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
    ];
    const version = await podman([...runArgs, '--rm', image, '--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const data = join(work.dir, 'volume');
    await mkdir(data);
    const [port, debugPort] = [await freePort(), await freePort()];
    container = (
      await podman([
        ...runArgs,
        '-d',
        '-v',
        `${data}:/var/lib/registry`,
        '-e',
        `REGISTRY_HTTP_ADDR=127.0.0.1:${port}`,
        '-e',
        `REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:${debugPort}`,
        image,
      ])
    ).stdout.trim();
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const status = await fetch(`${url}/readyz`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      if (i > 300)
        throw new Error(`the container did not become ready:\n${(await podman(['logs', container])).stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const pushed = makeRealImage([{ randomFile: 128 * 1024 }]);
    const layout = join(work.dir, 'layout');
    await writeOciLayout(layout, [{ tag: 'v1', image: pushed }]);
    const ref = `docker://127.0.0.1:${port}/demo/app:v1`;
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, ref], { env: work.env });
    const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', ref], { env: work.env });
    expect(sha256(Buffer.from(raw.stdout))).toBe(pushed.manifest.digest);
    // In distribution's layout, in the volume.
    const blobs = join(data, 'docker/registry/v2/blobs/sha256');
    const layer = pushed.layers[0]!.digest.slice('sha256:'.length);
    expect(
      (await readFile(join(blobs, layer.slice(0, 2), layer, 'data'))).equals(pushed.layers[0]!.bytes),
    ).toBe(true);
    expect(await readdir(join(data, 'docker/registry/v2/repositories/demo'))).toEqual(['app']);
    const metrics = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
    expect(metrics).toMatch(/registry_http_requests_total\{method="PUT",code="201",handler="manifest"\} 1/);
    const logs = await podman(['logs', container]);
    expect(logs.stdout).toMatch(/"msg":"PUT \/v2\/demo\/app\/manifests\/v1 201"/);
  }, 300_000);
});
