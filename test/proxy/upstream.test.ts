import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  hasTool,
  makeRealImage,
  OciClient,
  rounds,
  type ScratchDir,
  type ServerProcess,
  scratch,
  sha256,
} from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DockerRegistry,
  download,
  type FaultyFront,
  runTool,
  seedImage,
  startDockerRegistry,
  startFaultyFront,
  startWharf,
} from './tools.js';

const MiB = 1024 * 1024;
/** The shared-fill layer: the 64 MiB under WHARF_STRESS, a quicker 16 MiB otherwise. */
const BIG = rounds(16, 64) * MiB;

/** Every blob under a filesystem root, with whether its bytes match its digest. */
async function storedBlobs(root: string): Promise<Map<string, boolean>> {
  const blobs = new Map<string, boolean>();
  const base = join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const prefixes = await readdir(base).catch(() => [] as string[]);
  for (const prefix of prefixes) {
    for (const hex of await readdir(join(base, prefix))) {
      const bytes = await readFile(join(base, prefix, hex, 'data')).catch(() => undefined);
      if (bytes) blobs.set(`sha256:${hex}`, createHash('sha256').update(bytes).digest('hex') === hex);
    }
  }
  return blobs;
}

/** Pushes random bytes as a blob of `repo` on a registry. */
async function pushBlob(url: string, repo: string, size: number): Promise<{ bytes: Buffer; digest: string }> {
  const bytes = randomBytes(size);
  const digest = await new OciClient(url).pushBlob(repo, bytes, 'post-put');
  return { bytes, digest };
}

describe.skipIf(!hasTool('docker-registry'))('the cache in front of docker-registry', () => {
  let work: ScratchDir;
  let upstream: DockerRegistry;
  let wharf: ServerProcess | undefined;
  let front: FaultyFront | undefined;
  const root = () => join(work.dir, 'wharf');

  beforeEach(async () => {
    work = await scratch('wharf-proxy-upstream-');
    upstream = await startDockerRegistry(work.dir);
  });

  afterEach(async () => {
    await wharf?.stop();
    await front?.stop();
    await upstream?.stop();
    await work?.remove();
    wharf = undefined;
    front = undefined;
  });

  it(`makes one upstream GET for 8 concurrent cold pulls of a ${BIG / MiB} MiB layer, and all 8 verify`, async () => {
    const layer = await pushBlob(upstream.url, 'library/big', BIG);
    wharf = await startWharf({
      root: root(),
      upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }],
    });
    const pulls = await Promise.all(
      Array.from({ length: 8 }, () => download(`${wharf!.url}/v2/hub/library/big/blobs/${layer.digest}`)),
    );
    for (const pull of pulls) expect(pull).toMatchObject({ status: 200, size: BIG, digest: layer.digest });
    await expect.poll(async () => (await storedBlobs(root())).get(layer.digest)).toBe(true);
    // distribution logs a request once its handler returns, which can trail the last byte.
    await expect.poll(() => upstream.gets(`/v2/library/big/blobs/${layer.digest}`)).toBe(1);
    // Warm: served by wharf alone.
    expect(await download(`${wharf.url}/v2/hub/library/big/blobs/${layer.digest}`)).toMatchObject({
      digest: layer.digest,
    });
    expect(upstream.gets(`/v2/library/big/blobs/${layer.digest}`)).toBe(1);
  });

  it.skipIf(!hasTool('skopeo'))(
    'still serves pulled tags with a Warning when the upstream is stopped; an unknown tag fails at once',
    async () => {
      const image = makeRealImage([{ randomFile: MiB }]);
      await seedImage(work, image, `${upstream.host}/library/app:v1`);
      wharf = await startWharf({
        root: root(),
        upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/', tagFreshness: 0 }],
      });
      const ref = `docker://${wharf.host}/hub/library/app:v1`;
      await runTool(work, 'skopeo', [
        'copy',
        '--src-tls-verify=false',
        ref,
        `dir:${join(work.dir, 'first')}`,
      ]);
      await upstream.stop();

      const manifest = await download(`${wharf.url}/v2/hub/library/app/manifests/v1`);
      expect(manifest).toMatchObject({ status: 200, digest: image.manifest.digest });
      expect(manifest.headers.warning).toMatch(/^299 - "upstream docker\.io: unreachable/);
      const into = join(work.dir, 'again');
      await runTool(work, 'skopeo', ['copy', '--src-tls-verify=false', ref, `dir:${into}`]);
      expect(sha256(await readFile(join(into, 'manifest.json')))).toBe(image.manifest.digest);
      for (const blob of image.layers) {
        expect(sha256(await readFile(join(into, blob.digest.slice('sha256:'.length))))).toBe(blob.digest);
      }
      const never = await fetch(`${wharf.url}/v2/hub/library/app/manifests/never`);
      expect(never.status).toBe(502);
      const body = (await never.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]!.message).toMatch(/^upstream docker\.io: unreachable \(ECONNREFUSED\)/);
      await expect(
        runTool(work, 'skopeo', [
          'inspect',
          '--tls-verify=false',
          '--retry-times=0',
          `docker://${wharf.host}/hub/library/app:never`,
        ]),
      ).rejects.toThrow(/502 Bad Gateway/);
    },
  );

  it('passes a 429 with its Retry-After on, and stores nothing from a truncated or corrupted body', async () => {
    const blob = await pushBlob(upstream.url, 'library/app', 4 * MiB);
    front = await startFaultyFront(upstream.url);
    wharf = await startWharf({
      root: root(),
      upstreams: [{ namespace: 'docker.io', url: front.url, prefix: 'hub/' }],
    });
    const url = `${wharf.url}/v2/hub/library/app/blobs/${blob.digest}`;

    front.fault = () => ({ status: 429, headers: { 'Retry-After': '2' } });
    const limited = await fetch(url);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^[12]$/);
    expect(((await limited.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
      'TOOMANYREQUESTS',
    );

    await new Promise((resolve) => setTimeout(resolve, 2100));
    for (const fault of [{ truncateAt: MiB }, { corrupt: true } as const]) {
      front.fault = (req) => (req.method === 'GET' && req.url?.includes('/blobs/') ? fault : undefined);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      await expect(res.arrayBuffer()).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await storedBlobs(root())).has(blob.digest)).toBe(false);
    }
    front.fault = undefined;
    expect(await download(url)).toMatchObject({ status: 200, digest: blob.digest });
    await expect.poll(async () => (await storedBlobs(root())).get(blob.digest)).toBe(true);
    expect([...(await storedBlobs(root())).values()].every(Boolean)).toBe(true);
  });

  it('dials nothing for an ns naming a host that is not configured', async () => {
    let dialled = 0;
    const trap = createServer((socket) => {
      dialled++;
      socket.destroy();
    });
    trap.listen(0, '127.0.0.1');
    await once(trap, 'listening');
    front = await startFaultyFront(upstream.url);
    try {
      wharf = await startWharf({ root: root(), upstreams: [{ namespace: 'docker.io', url: front.url }] });
      const ns = `127.0.0.1:${(trap.address() as { port: number }).port}`;
      const res = await fetch(`${wharf.url}/v2/library/app/manifests/latest?ns=${encodeURIComponent(ns)}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(
        'NAME_UNKNOWN',
      );
      expect(dialled).toBe(0);
      expect(front.seen).toEqual([]);
    } finally {
      trap.close();
    }
  });

  it('answers a Range on a cold blob, and a client that disconnects does not stop the download', async () => {
    const blob = await pushBlob(upstream.url, 'library/app', 16 * MiB);
    wharf = await startWharf({
      root: root(),
      upstreams: [{ namespace: 'docker.io', url: upstream.url, prefix: 'hub/' }],
    });
    const url = `${wharf.url}/v2/hub/library/app/blobs/${blob.digest}`;
    // The quitter reads a little and hangs up; the others are unaffected.
    await new Promise<void>((resolve, reject) => {
      request(url, (res) => {
        res.once('data', () => {
          res.destroy();
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
    const [ranged, full] = await Promise.all([
      fetch(url, { headers: { Range: `bytes=${8 * MiB}-${8 * MiB + 999}` } }),
      download(url),
    ]);
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes ${8 * MiB}-${8 * MiB + 999}/${16 * MiB}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.bytes.subarray(8 * MiB, 8 * MiB + 1000))).toBe(
      true,
    );
    expect(full).toMatchObject({ status: 200, digest: blob.digest });
    await expect.poll(async () => (await storedBlobs(root())).get(blob.digest)).toBe(true);
    // distribution logs a request once its handler returns, which can trail the last byte.
    await expect.poll(() => upstream.gets(`/v2/library/app/blobs/${blob.digest}`)).toBe(1);
    // A second fetch would have been logged by now too: the blob is stored and every client is done.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstream.gets(`/v2/library/app/blobs/${blob.digest}`)).toBe(1);
  });
});

describe.skipIf(!hasTool('skopeo'))('a wharf upstream with token authentication', () => {
  let work: ScratchDir;
  const servers: ServerProcess[] = [];

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
    await work?.remove();
  });

  it('pulls through with the configured credentials, and refuses with wrong ones', async () => {
    work = await scratch('wharf-proxy-token-');
    const password = randomBytes(9).toString('hex');
    const upstream = await startWharf({
      root: join(work.dir, 'upstream'),
      token: { user: 'mirror', password },
    });
    servers.push(upstream);
    const image = makeRealImage([{ randomFile: 2 * MiB }]);
    await seedImage(work, image, `${upstream.host}/team/app:v1`, `mirror:${password}`);
    const wharf = await startWharf({
      root: join(work.dir, 'wharf'),
      upstreams: [
        {
          namespace: 'good.test',
          url: upstream.url,
          prefix: 'good/',
          credentials: { username: 'mirror', password },
        },
        {
          namespace: 'bad.test',
          url: upstream.url,
          prefix: 'bad/',
          credentials: { username: 'mirror', password: 'nope' },
        },
      ],
    });
    servers.push(wharf);
    const into = join(work.dir, 'pulled');
    await runTool(work, 'skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${wharf.host}/good/team/app:v1`,
      `dir:${into}`,
    ]);
    expect(sha256(await readFile(join(into, 'manifest.json')))).toBe(image.manifest.digest);
    const refused = await fetch(`${wharf.url}/v2/bad/team/app/manifests/v1`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
  });
});
