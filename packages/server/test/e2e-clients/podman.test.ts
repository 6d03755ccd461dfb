import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RealImage } from '@wharf/test-utils';
import { hasTool, type OciClient, sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformImage } from './images.js';
import { CASES, type RunningTarget, type Scratch, scratch } from './targets.js';

const TLS = '--tls-verify=false';

interface PodmanImage {
  Id: string;
  Digest: string;
  Architecture: string;
  RootFS: { Layers: string[] };
}

describe.skipIf(!hasTool('podman'))('podman', () => {
  let work: Scratch;
  let image: RealImage;
  let platforms: RealImage[];

  /**
   * Podman with every piece of state inside the scratch directory: image store (vfs, which needs
   * no kernel overlay support), run state, temp files, auth file, config and blob-info cache.
   * Nothing on the host is changed; the system-wide policy and registries configuration are read.
   */
  const podmanWith = (args: string[], server?: RunningTarget) =>
    work.run(
      'podman',
      [
        `--root=${join(work.dir, 'storage')}`,
        `--runroot=${join(work.dir, 'runroot')}`,
        '--storage-driver=vfs',
        `--tmpdir=${join(work.dir, 'libpod-tmp')}`,
        '--events-backend=none',
        ...args,
      ],
      server,
    );

  beforeAll(async () => {
    work = await scratch('wharf-e2e-podman-');
    image = platformImage('amd64', [20 * 1024 * 1024, 64 * 1024, 0]);
    platforms = [platformImage('amd64', [100_000]), platformImage('arm64', [100_000])];
  });

  afterAll(async () => {
    await work?.remove();
  });

  describe.each(CASES)('against $name', ({ start, authenticated }) => {
    let target: RunningTarget;
    let client: OciClient;
    const podman = (args: string[]) => podmanWith(args, target);
    const inspect = async (ref: string): Promise<PodmanImage> =>
      (JSON.parse((await podman(['image', 'inspect', ref])).stdout) as PodmanImage[])[0]!;

    beforeAll(async () => {
      target = await start();
      client = target.client();
      await podman(['rmi', '--all', '--force']);
      if (target.credentials) {
        await expect(
          podman(['login', TLS, '-u', target.credentials.user, '-p', 'wrong-password', target.host]),
        ).rejects.toThrow(/unauthorized|invalid username\/password/i);
        await podman([
          'login',
          TLS,
          '-u',
          target.credentials.user,
          '-p',
          target.credentials.password,
          target.host,
        ]);
      }
    });

    afterAll(async () => {
      if (target?.credentials) await podman(['logout', target.host]).catch(() => undefined);
      await target?.stop();
    });

    it('pulls an image pushed by another client, pushes it back, and pulls that identical', async () => {
      const source = `${target.host}/${target.namespace}/source`;
      await client.pushImage(`${target.namespace}/source`, 'v1', image, 'chunked');

      await podman(['pull', TLS, `${source}:v1`]);
      const pulled = await inspect(`${source}:v1`);
      expect(pulled.Digest).toBe(image.manifest.digest);
      expect(`sha256:${pulled.Id}`).toBe(image.config.digest);
      expect(pulled.RootFS.Layers).toEqual(image.diffIds);

      // Podman pushes from its own store, recompressing layers (or mounting ones it knows the
      // registry has), so the manifest may be new; the config, image id and diff ids are not.
      const pushed = `${target.host}/${target.namespace}/pushed`;
      const digestFile = join(work.dir, `digest-${target.host.replace(':', '-')}`);
      await podman(['push', TLS, '--digestfile', digestFile, `${source}:v1`, `${pushed}:v1`]);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      const manifest = await client.getManifest(`${target.namespace}/pushed`, 'v1');
      expect(manifest.digest).toBe(digest);
      expect(sha256(manifest.bytes)).toBe(digest);
      const parsed = JSON.parse(manifest.bytes.toString()) as {
        config: { digest: string };
        layers: Array<{ digest: string; size: number }>;
      };
      expect(parsed.config.digest).toBe(image.config.digest);
      expect(parsed.layers).toHaveLength(image.layers.length);
      for (const [i, layer] of parsed.layers.entries()) {
        const bytes = await client.getBlob(`${target.namespace}/pushed`, layer.digest);
        expect(sha256(bytes)).toBe(layer.digest);
        expect(bytes.byteLength).toBe(layer.size);
        expect(sha256(gunzipSync(bytes))).toBe(image.diffIds[i]);
      }

      // A fresh store pulls what podman pushed, by tag and by digest.
      await podman(['rmi', '--all', '--force']);
      await podman(['pull', TLS, `${pushed}:v1`]);
      const again = await inspect(`${pushed}:v1`);
      expect(again.Digest).toBe(digest);
      expect(`sha256:${again.Id}`).toBe(image.config.digest);
      expect(again.RootFS.Layers).toEqual(image.diffIds);
      await podman(['rmi', '--all', '--force']);
      await podman(['pull', TLS, `${pushed}@${digest}`]);
      expect((await inspect(`${pushed}@${digest}`)).RootFS.Layers).toEqual(image.diffIds);
    });

    it('pulls the right platform out of a multi-platform index', async () => {
      const repo = `${target.namespace}/multi`;
      for (const platform of platforms) await client.pushImage(repo, platform.architecture, platform);
      const index = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: platforms.map((p) => ({
          mediaType: p.mediaType,
          digest: p.manifest.digest,
          size: p.manifest.bytes.byteLength,
          platform: { architecture: p.architecture, os: 'linux' },
        })),
      };
      const res = await client.putManifest(repo, 'v1', Buffer.from(JSON.stringify(index)), index.mediaType);
      expect(res.status).toBe(201);
      await podman(['rmi', '--all', '--force']);
      for (const platform of platforms) {
        await podman(['pull', TLS, `--platform=linux/${platform.architecture}`, `${target.host}/${repo}:v1`]);
        const pulled = await inspect(`${target.host}/${repo}:v1`);
        expect(pulled.Architecture).toBe(platform.architecture);
        expect(`sha256:${pulled.Id}`).toBe(platform.config.digest);
        expect(pulled.RootFS.Layers).toEqual(platform.diffIds);
      }
    });

    if (authenticated)
      it('cannot push outside its namespace, nor pull after logging out', async () => {
        const repo = `${target.namespace}/guarded`;
        await client.pushImage(repo, 'v1', platforms[0]!);
        await podman(['pull', TLS, `${target.host}/${repo}:v1`]);
        await expect(
          podman(['push', TLS, `${target.host}/${repo}:v1`, `${target.host}/someone-else/stolen:v1`]),
        ).rejects.toThrow(/denied/i);
        await podman(['logout', target.host]);
        try {
          await expect(podman(['pull', TLS, `${target.host}/${repo}:v1`])).rejects.toThrow(
            /unauthorized|authentication required/i,
          );
        } finally {
          await podman([
            'login',
            TLS,
            '-u',
            target.credentials!.user,
            '-p',
            target.credentials!.password,
            target.host,
          ]);
        }
      });
  });
});
