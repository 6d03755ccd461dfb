import { join } from 'node:path';
import { hasTool, layoutBlob, layoutDigest, sha256 } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestImages, writeTestImages } from './images.js';
import { CASES, type Credentials, type RunningTarget, type Scratch, scratch } from './targets.js';

const TLS = '--tls-verify=false';

function creds(flag: string, credentials: Credentials | undefined): string[] {
  return credentials ? [`${flag}=${credentials.user}:${credentials.password}`] : [];
}

describe.skipIf(!hasTool('skopeo'))('skopeo', () => {
  let work: Scratch;
  let images: TestImages;
  let source: string;

  beforeAll(async () => {
    work = await scratch('wharf-e2e-skopeo-');
    source = join(work.dir, 'source');
    images = await writeTestImages(source);
  });

  afterAll(async () => {
    await work?.remove();
  });

  describe.each(CASES)('against $name', ({ start, authenticated }) => {
    let target: RunningTarget;
    const skopeo = (args: string[]) => work.run('skopeo', args, target);
    const json = async <T>(args: string[]): Promise<T> => JSON.parse((await skopeo(args)).stdout) as T;

    beforeAll(async () => {
      target = await start();
    });

    afterAll(async () => {
      await target?.stop();
    });

    it('copies an image in, lists, inspects, copies it out identical, between repos, and deletes it', async () => {
      const { image } = images;
      const repo = `docker://${target.host}/${target.namespace}/app`;
      const auth = creds('--creds', target.credentials);
      const push = ['copy', '--dest-tls-verify=false', ...creds('--dest-creds', target.credentials)];
      const pull = ['copy', '--src-tls-verify=false', ...creds('--src-creds', target.credentials)];

      await skopeo([...push, `oci:${source}:v1`, `${repo}:v1`]);
      await skopeo([...push, `oci:${source}:v1`, `${repo}:latest`]);
      const tags = await json<{ Tags: string[] }>(['list-tags', TLS, ...auth, repo]);
      expect(tags.Tags.sort()).toEqual(['latest', 'v1']);

      const raw = (await skopeo(['inspect', TLS, ...auth, '--raw', `${repo}:v1`])).stdout;
      expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
      const inspect = await json<{ Digest: string; Layers: string[]; Architecture: string }>([
        'inspect',
        TLS,
        ...auth,
        `${repo}:v1`,
      ]);
      expect(inspect.Digest).toBe(image.manifest.digest);
      expect(inspect.Layers).toEqual(image.layers.map((l) => l.digest));
      const config = (await skopeo(['inspect', TLS, ...auth, '--raw', '--config', `${repo}:v1`])).stdout;
      expect(sha256(Buffer.from(config))).toBe(image.config.digest);

      const pulled = join(work.dir, `pulled-${target.host.replace(':', '-')}`);
      await skopeo([...pull, `${repo}:v1`, `oci:${pulled}:v1`]);
      expect(await layoutDigest(pulled, 'v1')).toBe(image.manifest.digest);
      for (const blob of [image.config, ...image.layers]) {
        expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
      }

      // Registry to registry: the blobs are mounted or re-uploaded, the manifest stays identical.
      const copy = `docker://${target.host}/${target.namespace}/copy`;
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...creds('--src-creds', target.credentials),
        ...creds('--dest-creds', target.credentials),
        `${repo}:v1`,
        `${copy}:v1`,
      ]);
      const copied = (await skopeo(['inspect', TLS, ...auth, '--raw', `${copy}:v1`])).stdout;
      expect(sha256(Buffer.from(copied))).toBe(image.manifest.digest);

      await skopeo(['delete', TLS, ...auth, `${repo}:v1`]);
      // Deleting by tag deletes the manifest, and with it every tag that pointed at it.
      expect((await json<{ Tags: string[] }>(['list-tags', TLS, ...auth, repo])).Tags).toEqual([]);
      await expect(skopeo(['inspect', TLS, ...auth, '--raw', `${repo}:latest`])).rejects.toThrow(
        /manifest unknown/i,
      );
      // The other repository keeps its own copy.
      expect((await json<{ Tags: string[] }>(['list-tags', TLS, ...auth, copy])).Tags).toEqual(['v1']);
    });

    it('copies a multi-platform index with --all, and back out complete', async () => {
      const { index, platforms } = images;
      const repo = `docker://${target.host}/${target.namespace}/multi`;
      const auth = creds('--creds', target.credentials);
      await skopeo([
        'copy',
        '--all',
        '--dest-tls-verify=false',
        ...creds('--dest-creds', target.credentials),
        `oci:${source}:multi`,
        `${repo}:v1`,
      ]);
      const raw = (await skopeo(['inspect', TLS, ...auth, '--raw', `${repo}:v1`])).stdout;
      expect(sha256(Buffer.from(raw))).toBe(index.digest);
      for (const platform of platforms) {
        const child = (
          await skopeo(['inspect', TLS, ...auth, '--raw', `${repo}@${platform.manifest.digest}`])
        ).stdout;
        expect(Buffer.from(child).equals(platform.manifest.bytes)).toBe(true);
        // Resolved through the index to this platform's image (`Digest` stays the index's own).
        const resolved = await json<{ Digest: string; Architecture: string; Layers: string[] }>([
          'inspect',
          TLS,
          ...auth,
          `--override-arch=${platform.architecture}`,
          `${repo}:v1`,
        ]);
        expect(resolved.Digest).toBe(index.digest);
        expect(resolved.Architecture).toBe(platform.architecture);
        expect(resolved.Layers).toEqual(platform.layers.map((l) => l.digest));
      }

      const pulled = join(work.dir, `pulled-multi-${target.host.replace(':', '-')}`);
      await skopeo([
        'copy',
        '--all',
        '--src-tls-verify=false',
        ...creds('--src-creds', target.credentials),
        `${repo}:v1`,
        `oci:${pulled}:multi`,
      ]);
      expect(await layoutDigest(pulled, 'multi')).toBe(index.digest);
      for (const platform of platforms) {
        for (const blob of [platform.manifest, platform.config, ...platform.layers]) {
          expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
        }
      }
    });

    // Only the Express app has users.
    if (authenticated)
      it('refuses anonymous and out-of-namespace pushes', async () => {
        const { image } = images;
        if (!target.credentials || !target.otherUser) throw new Error('needs a target with users');
        const repo = `docker://${target.host}/${target.namespace}/guarded`;
        await expect(
          skopeo(['copy', '--dest-tls-verify=false', `oci:${source}:v1`, `${repo}:v1`]),
        ).rejects.toThrow(/unauthorized|authentication required/i);
        await expect(
          skopeo([
            'copy',
            '--dest-tls-verify=false',
            ...creds('--dest-creds', target.otherUser),
            `oci:${source}:v1`,
            `${repo}:v1`,
          ]),
        ).rejects.toThrow(/denied/i);
        await expect(
          skopeo([
            'copy',
            '--dest-tls-verify=false',
            `--dest-creds=${target.credentials.user}:wrong-password`,
            `oci:${source}:v1`,
            `${repo}:v1`,
          ]),
        ).rejects.toThrow(/unauthorized|authentication required/i);
        // The other user may pull what the owner pushed.
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          ...creds('--dest-creds', target.credentials),
          `oci:${source}:v1`,
          `${repo}:v1`,
        ]);
        const raw = (
          await skopeo(['inspect', TLS, ...creds('--creds', target.otherUser), '--raw', `${repo}:v1`])
        ).stdout;
        expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
      });
  });
});
