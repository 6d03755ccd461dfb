import { randomBytes } from 'node:crypto';
import { OciClient, rounds, type ServerProcess, sha256, startServer } from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStorage, listFiles, tempDir, v2 } from './helpers.js';

const CLIENTS = 16;
/** Two rounds by default; twenty under `WHARF_STRESS=1`. */
const ROUNDS = rounds(2, 20);
const BLOB_SIZE = 64 * 1024 * 1024;
/** Several PATCHes per upload, of uneven sizes so chunk boundaries differ between rounds. */
const CHUNKS = [0.3, 0.25, 0.25, 0.2];

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/**
 * docs/architecture.md, upload rule 5: many clients upload the same blob at once, each in its own
 * session; every PUT must succeed, and a HEAD right after any 201 must see the whole blob.
 */
describe('16 clients pushing the same blob concurrently (fs)', () => {
  let server: ServerProcess;
  let root: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    root = await tempDir('concurrent');
    server = await startServer({ env: { WHARF_STORAGE: 'fs', WHARF_ROOT: root.dir } });
  });

  afterAll(async () => {
    await server?.stop();
    await root?.remove();
  });

  /** One client's push: POST, several PATCHes, PUT, then an immediate HEAD. */
  async function push(client: OciClient, repo: string, bytes: Buffer, digest: string): Promise<string[]> {
    const log: string[] = [];
    let location = await client.startUpload(repo);
    let offset = 0;
    for (const share of CHUNKS) {
      const end =
        share === CHUNKS[CHUNKS.length - 1]
          ? bytes.byteLength
          : offset + Math.floor(bytes.byteLength * share);
      const res = await client.request('PATCH', location, {
        body: bytes.subarray(offset, end),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end - 1}` },
      });
      await res.arrayBuffer();
      if (res.status !== 202) log.push(`PATCH ${offset}: ${res.status}`);
      location = client.location(res);
      offset = end;
    }
    const put = await client.request('PUT', withDigest(location, digest), {
      headers: { 'Content-Length': '0' },
    });
    const putBody = await put.text();
    if (put.status !== 201) {
      log.push(`PUT: ${put.status} ${putBody}`);
      return log;
    }
    const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`);
    if (head.status !== 200 || head.headers.get('content-length') !== String(bytes.byteLength)) {
      log.push(`HEAD after 201: ${head.status} length ${head.headers.get('content-length')}`);
    }
    return log;
  }

  it(`every PUT answers 201 and every HEAD after it sees the full blob (${ROUNDS} rounds)`, async () => {
    const clients = Array.from({ length: CLIENTS }, () => new OciClient(server.url));
    for (let round = 0; round < ROUNDS; round++) {
      const bytes = randomBytes(BLOB_SIZE);
      const digest = sha256(bytes);
      const repo = `race/r${round % 4}`;
      const logs = await Promise.all(clients.map((client) => push(client, repo, bytes, digest)));
      expect(logs.flat(), `round ${round}`).toEqual([]);
      const back = await clients[round % CLIENTS]!.getBlob(repo, digest);
      expect(back.byteLength).toBe(BLOB_SIZE);
      expect(sha256(back)).toBe(digest);
    }
    // Every session was committed and removed; every blob on disk is whole.
    expect((await listFiles(v2(root.dir))).filter((f) => f.startsWith('_wharf'))).toEqual([]);
    expect(await checkStorage(root.dir)).toEqual([]);
  }, 600_000);
});
