import {
  type Content,
  makeImage,
  OciClient,
  type ServerProcess,
  sha256,
  startServer,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStorage, listFiles, tempDir, v2 } from './helpers.js';

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** The path (and query) of a `Location`, to send it to another replica. */
function pathOf(location: string): string {
  const url = new URL(location, 'http://placeholder');
  return url.pathname + url.search;
}

/**
 * docs/architecture.md, upload rule 1: no session state in process memory, so one push may hop
 * between processes sharing the root (a PATCH on another replica never gets BLOB_UPLOAD_UNKNOWN).
 */
describe('two server processes on one root (fs)', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let root: { dir: string; remove: () => Promise<void> };
  let clientA: OciClient;
  let clientB: OciClient;

  beforeAll(async () => {
    root = await tempDir('replicas');
    const env = { WHARF_STORAGE: 'fs', WHARF_ROOT: root.dir };
    [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
    clientA = new OciClient(a.url);
    clientB = new OciClient(b.url);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await root?.remove();
  });

  /** POST→A, PATCH→B, PATCH→A, PUT→B (the first and last chunk split unevenly). */
  async function hopPush(repo: string, blob: Content): Promise<void> {
    const { bytes, digest } = blob;
    const cut = Math.max(1, Math.floor(bytes.byteLength * 0.6));
    let location = pathOf(await clientA.startUpload(repo));
    const steps: Array<[OciClient, number, number]> = [
      [clientB, 0, cut],
      [clientA, cut, bytes.byteLength],
    ];
    for (const [client, start, end] of steps) {
      const res = await client.request('PATCH', location, {
        body: bytes.subarray(start, end),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end - 1}` },
      });
      expect(res.status, await res.text()).toBe(202);
      expect(res.headers.get('range')).toBe(`0-${end - 1}`);
      location = pathOf(client.location(res));
    }
    // The session is visible from both processes.
    for (const client of [clientA, clientB]) {
      const status = await client.request('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${bytes.byteLength - 1}`);
    }
    const put = await clientB.request('PUT', withDigest(location, digest), {
      headers: { 'Content-Length': '0' },
    });
    expect(put.status, await put.text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);
    // Both processes see the complete blob at once.
    for (const client of [clientA, clientB]) {
      const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength));
    }
  }

  it('pushes config, layer and manifest across both and pulls them back identical from each', async () => {
    const repo = 'hop/app';
    const image = makeImage({ layers: [5 * 1024 * 1024 + 123] });
    await hopPush(repo, image.config);
    await hopPush(repo, image.layers[0]!);
    // The manifest goes to A, a second tag to B.
    const m1 = await clientA.putManifest(repo, 'v1', image.manifest, image.mediaType);
    expect(m1.status, await m1.text()).toBe(201);
    const m2 = await clientB.putManifest(repo, 'latest', image.manifest, image.mediaType);
    expect(m2.status, await m2.text()).toBe(201);

    for (const client of [clientA, clientB]) {
      for (const tag of ['v1', 'latest', image.manifest.digest]) {
        const manifest = await client.getManifest(repo, tag);
        expect(manifest.bytes.equals(image.manifest.bytes)).toBe(true);
        expect(manifest.mediaType).toBe(image.mediaType);
        expect(manifest.digest).toBe(image.manifest.digest);
      }
      for (const blob of [image.config, ...image.layers]) {
        const bytes = await client.getBlob(repo, blob.digest);
        expect(sha256(bytes)).toBe(blob.digest);
      }
      expect(await client.tags(repo)).toEqual(['latest', 'v1']);
    }

    // A tag deleted through one process is gone for the other.
    const del = await clientB.request('DELETE', `/v2/${repo}/manifests/latest`);
    expect(del.status).toBe(202);
    expect(await clientA.tags(repo)).toEqual(['v1']);
    const catalog = (await (await clientA.request('GET', '/v2/_catalog')).json()) as {
      repositories: string[];
    };
    expect(catalog.repositories).toEqual([repo]);

    expect(await checkStorage(root.dir)).toEqual([]);
    expect((await listFiles(v2(root.dir))).filter((f) => f.startsWith('_wharf'))).toEqual([]);
  });

  it('lets exactly one of two PATCHes racing at the same offset through different processes win', async () => {
    const repo = 'hop/race';
    const head = Buffer.alloc(1000, 1);
    const location = pathOf(await clientA.startUpload(repo));
    const first = await clientA.request('PATCH', location, {
      body: head,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-999' },
    });
    expect(first.status).toBe(202);
    const bodies = [Buffer.alloc(3 * 1024 * 1024, 2), Buffer.alloc(3 * 1024 * 1024, 3)];
    const results = await Promise.all(
      [clientA, clientB].map(async (client, i) => {
        const res = await client.request('PATCH', location, {
          body: bodies[i]!,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `1000-${1000 + bodies[i]!.byteLength - 1}`,
          },
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(results.filter((s) => s === 202)).toHaveLength(1);
    expect(results.filter((s) => s !== 202)).toEqual([416]);
    const winner = bodies[results.indexOf(202)]!;
    const all = Buffer.concat([head, winner]);
    const put = await clientB.request('PUT', withDigest(location, sha256(all)), {
      headers: { 'Content-Length': '0' },
    });
    expect(put.status, await put.text()).toBe(201);
    expect(sha256(await clientA.getBlob(repo, sha256(all)))).toBe(sha256(all));
  });
});
