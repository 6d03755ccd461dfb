import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasTool,
  makeRealImage,
  type RealImage,
  type ScratchDir,
  type ServerProcess,
  scratch,
  sha256,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Containerd,
  type DockerRegistry,
  runTool,
  seedImage,
  startContainerd,
  startDockerRegistry,
  startWharf,
} from './tools.js';

/**
 * Real clients pulling through wharf from a real upstream (Debian's docker-registry) on loopback:
 * skopeo through a proxied prefix, containerd and podman through their mirror configurations.
 */
describe.skipIf(!(hasTool('docker-registry') && hasTool('skopeo')))(
  'real clients pull through the cache',
  () => {
    let work: ScratchDir;
    let upstream: DockerRegistry;
    let wharf: ServerProcess;
    let image: RealImage;

    beforeAll(async () => {
      work = await scratch('wharf-proxy-clients-');
      upstream = await startDockerRegistry(work.dir);
      image = makeRealImage([{ randomFile: 3 * 1024 * 1024 }, { randomFile: 10_000 }]);
      await seedImage(work, image, `${upstream.host}/library/app:v1`);
      wharf = await startWharf({
        root: join(work.dir, 'wharf'),
        upstreams: [
          // Mirror requests (containerd's ?ns=docker.io; podman's docker.io/ path) and a short prefix.
          { namespace: 'docker.io', url: upstream.url },
          { namespace: 'mirror.test', url: upstream.url, prefix: 'hub/' },
        ],
      });
    });

    afterAll(async () => {
      await wharf?.stop();
      await upstream?.stop();
      await work?.remove();
    });

    it("skopeo copies through a proxied prefix, with the upstream's digests", async () => {
      const into = join(work.dir, 'skopeo-out');
      await runTool(work, 'skopeo', [
        'copy',
        '--src-tls-verify=false',
        `docker://${wharf.host}/hub/library/app:v1`,
        `dir:${into}`,
      ]);
      const manifest = await readFile(join(into, 'manifest.json'));
      expect(sha256(manifest)).toBe(image.manifest.digest);
      for (const blob of [image.config, ...image.layers]) {
        expect(sha256(await readFile(join(into, blob.digest.slice('sha256:'.length))))).toBe(blob.digest);
      }
      const inspect = JSON.parse(
        (
          await runTool(work, 'skopeo', [
            'inspect',
            '--tls-verify=false',
            `docker://${wharf.host}/hub/library/app:v1`,
          ])
        ).stdout,
      ) as { Digest: string };
      expect(inspect.Digest).toBe(image.manifest.digest);
    });

    it.skipIf(!(hasTool('containerd') && hasTool('ctr')))(
      'containerd pulls docker.io/library/app from a hosts.toml mirror',
      async () => {
        const dir = join(work.dir, 'containerd');
        const hosts = join(dir, 'certs.d', 'docker.io');
        await mkdir(hosts, { recursive: true });
        await writeFile(
          join(hosts, 'hosts.toml'),
          [
            'server = "https://registry-1.docker.io"',
            `[host."http://${wharf.host}"]`,
            '  capabilities = ["pull", "resolve"]',
            '',
          ].join('\n'),
        );
        let containerd: Containerd | undefined;
        try {
          containerd = await startContainerd(dir);
          const ctr = (args: string[]) => runTool(work, 'ctr', ['--address', containerd!.address, ...args]);
          await ctr([
            'images',
            'pull',
            '--hosts-dir',
            join(dir, 'certs.d'),
            '--snapshotter',
            'native',
            'docker.io/library/app:v1',
          ]);
          const listed = (await ctr(['images', 'ls'])).stdout;
          expect(listed).toContain('docker.io/library/app:v1');
          expect(listed).toContain(image.manifest.digest);
          // containerd asked the mirror with ?ns=docker.io: the cache is the docker.io upstream's.
          const tag = await fetch(`${wharf.url}/v2/docker.io/library/app/manifests/v1`);
          expect(tag.headers.get('docker-content-digest')).toBe(image.manifest.digest);
        } finally {
          await containerd?.stop();
        }
      },
    );

    it.skipIf(!hasTool('podman'))(
      'podman pulls docker.io/library/app through a registries.conf mirror',
      async () => {
        const conf = join(work.dir, 'registries.conf');
        await writeFile(
          conf,
          [
            '[[registry]]',
            'prefix = "docker.io"',
            'location = "docker.io"',
            '[[registry.mirror]]',
            `location = "${wharf.host}/docker.io"`,
            'insecure = true',
            '',
          ].join('\n'),
        );
        const podman = (args: string[]) =>
          runTool(
            work,
            'podman',
            [
              `--root=${join(work.dir, 'podman-storage')}`,
              `--runroot=${join(work.dir, 'podman-run')}`,
              '--storage-driver=vfs',
              `--tmpdir=${join(work.dir, 'podman-tmp')}`,
              '--events-backend=none',
              ...args,
            ],
            { CONTAINERS_REGISTRIES_CONF: conf },
          );
        await podman(['pull', 'docker.io/library/app:v1']);
        const inspected = JSON.parse(
          (await podman(['image', 'inspect', 'docker.io/library/app:v1'])).stdout,
        ) as Array<{
          Digest: string;
          Id: string;
        }>;
        expect(inspected[0]!.Digest).toBe(image.manifest.digest);
        expect(`sha256:${inspected[0]!.Id}`).toBe(image.config.digest);
      },
    );
  },
);
