import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hasTool,
  layoutBlob,
  layoutDigest,
  makeRealImage,
  run,
  type ServerProcess,
  sha256,
  startServer,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TLS = '--tls-verify=false';

describe.skipIf(!hasTool('skopeo'))('skopeo round trip against the example server', () => {
  let server: ServerProcess;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-skopeo-'));
    server = await startServer({ env: { WHARF_STORAGE: 'memory' } });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('pushes a multi-layer OCI image, lists, inspects, pulls it back identical and deletes it', async () => {
    const image = makeRealImage([{ randomFile: 3 * 1024 * 1024 }, { randomFile: 1000 }, {}]);
    const source = join(work, 'source');
    await writeOciLayout(source, [{ tag: 'v1', image }]);
    const ref = `docker://${server.host}/test/app`;

    await run('skopeo', ['copy', `--dest-tls-verify=false`, `oci:${source}:v1`, `${ref}:v1`]);
    await run('skopeo', ['copy', `--dest-tls-verify=false`, `oci:${source}:v1`, `${ref}:latest`]);

    const tags = JSON.parse((await run('skopeo', ['list-tags', TLS, ref])).stdout) as { Tags: string[] };
    expect(tags.Tags.sort()).toEqual(['latest', 'v1']);

    const raw = (await run('skopeo', ['inspect', TLS, '--raw', `${ref}:v1`])).stdout;
    expect(sha256(Buffer.from(raw))).toBe(image.manifest.digest);
    const inspect = JSON.parse((await run('skopeo', ['inspect', TLS, `${ref}:v1`])).stdout) as {
      Digest: string;
      Layers: string[];
    };
    expect(inspect.Digest).toBe(image.manifest.digest);
    expect(inspect.Layers).toEqual(image.layers.map((l) => l.digest));

    const pulled = join(work, 'pulled');
    await run('skopeo', ['copy', `--src-tls-verify=false`, `${ref}:v1`, `oci:${pulled}:v1`]);
    expect(await layoutDigest(pulled, 'v1')).toBe(image.manifest.digest);
    for (const blob of [image.config, ...image.layers]) {
      expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
    }

    await run('skopeo', ['delete', TLS, `${ref}:v1`]);
    const after = JSON.parse((await run('skopeo', ['list-tags', TLS, ref])).stdout) as { Tags: string[] };
    // Deleting by tag removes the manifest, and with it every tag pointing at it.
    expect(after.Tags).toEqual([]);
  });
});
