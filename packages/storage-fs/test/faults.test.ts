import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistry, type Registry } from '@wharf/core';
import { createFsStorage, type FsOperations, type FsStorage } from '@wharf/storage-fs';
import { makeImage, OciClient, randomContent, sha256 } from '@wharf/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStorage, listFiles, tempDir, v2 } from './helpers.js';

/** Which call fails and with which errno; `when` narrows it to some paths. */
interface Fault {
  readonly op: 'open' | 'write' | 'datasync' | 'rename' | 'link' | 'mkdir';
  readonly code: 'ENOSPC' | 'EACCES' | 'EMFILE' | 'EIO';
  readonly when?: (path: string) => boolean;
}

function fail(fault: Fault): never {
  throw Object.assign(new Error(`${fault.code}: injected fault`), { code: fault.code, syscall: fault.op });
}

/**
 * `node:fs/promises` with switchable faults: the running process is root here, so permissions
 * and a full disk cannot be produced for real.
 */
function faultyFs(current: () => readonly Fault[]): Partial<FsOperations> {
  const check = (op: Fault['op'], path: unknown): void => {
    for (const fault of current()) {
      if (fault.op === op && (!fault.when || fault.when(String(path)))) fail(fault);
    }
  };
  return {
    async open(path, flags, mode) {
      check('open', path);
      const handle = await fsp.open(path, flags, mode);
      const writev = handle.writev.bind(handle);
      const writeFile = handle.writeFile.bind(handle);
      const datasync = handle.datasync.bind(handle);
      handle.writev = ((...args: Parameters<typeof writev>) => {
        check('write', path);
        return writev(...args);
      }) as typeof handle.writev;
      handle.writeFile = ((...args: Parameters<typeof writeFile>) => {
        check('write', path);
        return writeFile(...args);
      }) as typeof handle.writeFile;
      handle.datasync = () => {
        check('datasync', path);
        return datasync();
      };
      return handle;
    },
    async rename(from, to) {
      check('rename', to);
      return fsp.rename(from, to);
    },
    async link(from, to) {
      check('link', to);
      return fsp.link(from, to);
    },
    mkdir: (async (path: Parameters<typeof fsp.mkdir>[0], options?: Parameters<typeof fsp.mkdir>[1]) => {
      check('mkdir', path);
      return fsp.mkdir(path, options);
    }) as typeof fsp.mkdir,
  };
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

const inBlobs = (path: string): boolean => path.includes(`${join('docker', 'registry', 'v2', 'blobs')}/`);
const inChunks = (path: string): boolean => /\/chunk-\d+$/.test(path);
const isTagLink = (path: string): boolean => path.includes('/_manifests/tags/');
/** Chunk files of a live session: only background merges open them (a commit moves them first). */
const inSessionChunks = (path: string): boolean => path.includes('/_wharf/uploads/') && inChunks(path);
/** Makes every background merge fail, so that a commit has to copy the chunks itself. */
const NO_MERGES: Fault = { op: 'open', code: 'EIO', when: inSessionChunks };

/**
 * A full disk, a permission error or descriptor exhaustion while committing answers a 5xx spec
 * error, keeps what was stored before intact, and leaves the upload resumable (or cleaned up).
 */
describe('storage faults on the filesystem store', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let storage: FsStorage;
  let registry: Registry;
  let client: OciClient;
  let faults: readonly Fault[] = [];

  beforeEach(async () => {
    work = await tempDir('faults');
    faults = [];
    // Chunks synced too: every flush the store can make is one that can fail.
    storage = await createFsStorage({ root: work.dir, fs: faultyFs(() => faults), syncChunks: true });
    registry = createRegistry({ storage });
    client = new OciClient('http://registry.local', (input, init) => registry.fetch(input, init));
  });

  afterEach(async () => {
    await storage.close();
    await work.remove();
  });

  /** A session holding `bytes` in `chunks` PATCHes; resolves its location. */
  async function stage(repo: string, bytes: Buffer, chunks: number): Promise<string> {
    let location = await client.startUpload(repo);
    const size = Math.ceil(bytes.byteLength / chunks);
    for (let offset = 0; offset < bytes.byteLength; offset += size) {
      const end = Math.min(offset + size, bytes.byteLength);
      const res = await client.request('PATCH', location, {
        body: bytes.subarray(offset, end),
        headers: { 'Content-Range': `${offset}-${end - 1}`, 'Content-Type': 'application/octet-stream' },
      });
      expect(res.status).toBe(202);
      location = client.location(res);
    }
    return location;
  }

  async function expectError(res: Response, status: number): Promise<void> {
    const text = await res.text();
    expect(res.status, text).toBe(status);
    const body = JSON.parse(text) as { errors?: Array<{ code: string; message: string }> };
    expect(body.errors?.[0]?.code).toBe('UNKNOWN');
    if (status === 503) expect(res.headers.get('retry-after')).toBe('1');
  }

  /** Nothing but the live sessions' files in wharf's private area; every stored byte checks out. */
  async function expectClean(liveSessions: number): Promise<void> {
    const privateFiles = (await listFiles(v2(work.dir))).filter((f) => f.startsWith('_wharf'));
    expect(privateFiles.filter((f) => f.startsWith(join('_wharf', 'tmp')))).toEqual([]);
    const sessions = new Set(privateFiles.map((f) => f.split('/')[2]));
    expect(sessions.size).toBe(liveSessions);
    expect(await checkStorage(work.dir)).toEqual([]);
  }

  /** `merged`: whether background merges succeed (else the commit copies the chunks itself). */
  const cases: ReadonlyArray<{
    name: string;
    chunks: number;
    merged: boolean;
    fault: Fault;
    status: number;
  }> = [
    {
      name: 'disk full while concatenating chunks',
      chunks: 3,
      merged: false,
      fault: { op: 'write', code: 'ENOSPC' },
      status: 507,
    },
    {
      name: 'disk full while syncing the blob',
      chunks: 3,
      merged: false,
      fault: { op: 'datasync', code: 'ENOSPC' },
      status: 507,
    },
    {
      name: 'disk full renaming merged chunks into the blob store',
      chunks: 3,
      merged: true,
      fault: { op: 'rename', code: 'ENOSPC', when: inBlobs },
      status: 507,
    },
    {
      name: 'permission denied renaming into the blob store',
      chunks: 1,
      merged: true,
      fault: { op: 'rename', code: 'EACCES', when: inBlobs },
      status: 500,
    },
    {
      name: 'permission denied creating the blob directory',
      chunks: 2,
      merged: true,
      fault: { op: 'mkdir', code: 'EACCES', when: inBlobs },
      status: 500,
    },
    {
      name: 'descriptor exhaustion opening chunks',
      chunks: 2,
      merged: false,
      fault: { op: 'open', code: 'EMFILE', when: inChunks },
      status: 503,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status}, previous state intact, upload resumable`, async () => {
      const before = makeImage({ layers: [300_000] });
      await client.pushImage('app', 'v1', before, 'chunked');
      const blob = randomContent(2 * 1024 * 1024 + 17);
      const noMerges = c.merged ? [] : [NO_MERGES];
      faults = noMerges;
      const location = await stage('app', blob.bytes, c.chunks);

      faults = [...noMerges, c.fault];
      const put = await client.request('PUT', withDigest(location, blob.digest), {
        headers: { 'Content-Length': '0' },
      });
      await expectError(put, c.status);
      faults = [];

      // Nothing half-done is visible; what was there before still is.
      expect((await client.request('HEAD', `/v2/app/blobs/${blob.digest}`)).status).toBe(404);
      expect(await storage.blobs.stat(blob.digest)).toBeNull();
      await client.pullImage('app', 'v1', before);
      expect(await client.tags('app')).toEqual(['v1']);

      // The session kept its bytes: its status reports them and the retried PUT succeeds.
      const status = await client.request('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${blob.bytes.byteLength - 1}`);
      await expectClean(1);
      const retry = await client.request('PUT', withDigest(location, blob.digest), {
        headers: { 'Content-Length': '0' },
      });
      expect(retry.status, await retry.text()).toBe(201);
      expect(sha256(await client.getBlob('app', blob.digest))).toBe(blob.digest);
      await expectClean(0);
    });
  }

  it('a chunk that hits a full disk is refused (507) and the session resumes where it was', async () => {
    const blob = randomContent(3 * 1024 * 1024);
    let location = await client.startUpload('app');
    const half = blob.bytes.byteLength / 2;
    const first = await client.request('PATCH', location, {
      body: blob.bytes.subarray(0, half),
      headers: { 'Content-Range': `0-${half - 1}`, 'Content-Type': 'application/octet-stream' },
    });
    expect(first.status).toBe(202);
    location = client.location(first);

    for (const f of [
      { op: 'write', code: 'ENOSPC' },
      { op: 'datasync', code: 'EIO' },
      { op: 'link', code: 'EMFILE' },
    ] as const) {
      faults = [f];
      const res = await client.request('PATCH', location, {
        body: blob.bytes.subarray(half),
        headers: {
          'Content-Range': `${half}-${blob.bytes.byteLength - 1}`,
          'Content-Type': 'application/octet-stream',
        },
      });
      await expectError(res, f.code === 'ENOSPC' ? 507 : f.code === 'EMFILE' ? 503 : 500);
      faults = [];
      const status = await client.request('GET', location);
      expect(status.headers.get('range')).toBe(`0-${half - 1}`);
      // The refused chunk left no temporary file behind.
      await expectClean(1);
    }
    const res = await client.request('PATCH', location, {
      body: blob.bytes.subarray(half),
      headers: {
        'Content-Range': `${half}-${blob.bytes.byteLength - 1}`,
        'Content-Type': 'application/octet-stream',
      },
    });
    expect(res.status).toBe(202);
    const put = await client.request('PUT', withDigest(client.location(res), blob.digest), {
      headers: { 'Content-Length': '0' },
    });
    expect(put.status).toBe(201);
    expect(sha256(await client.getBlob('app', blob.digest))).toBe(blob.digest);
    await expectClean(0);
  });

  it('a monolithic upload or a manifest push that hits a full disk leaves the previous state', async () => {
    const before = makeImage({ layers: [1000] });
    await client.pushImage('app', 'v1', before);
    const after = makeImage({ layers: [200_000] });

    faults = [{ op: 'write', code: 'ENOSPC' }];
    const res = await client.request('POST', `/v2/app/blobs/uploads/?digest=${after.layers[0]!.digest}`, {
      body: after.layers[0]!.bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    await expectError(res, 507);
    faults = [];
    expect(await storage.blobs.stat(after.layers[0]!.digest)).toBeNull();
    await expectClean(0);

    for (const blob of [after.config, ...after.layers]) await client.pushBlob('app', blob.bytes);
    // The tag move fails: the tag still names the old manifest, whole.
    faults = [{ op: 'rename', code: 'ENOSPC', when: isTagLink }];
    const manifest = await client.putManifest('app', 'v1', after.manifest, after.mediaType);
    await expectError(manifest, 507);
    faults = [];
    await client.pullImage('app', 'v1', before);
    await expectClean(0);

    const again = await client.putManifest('app', 'v1', after.manifest, after.mediaType);
    expect(again.status).toBe(201);
    await client.pullImage('app', 'v1', after);
  });
});
