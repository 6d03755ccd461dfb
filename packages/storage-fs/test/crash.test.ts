import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createRegistry } from '@wharf/core';
import { createFsStorage } from '@wharf/storage-fs';
import {
  type Content,
  makeImage,
  OciClient,
  rounds,
  type ServerProcess,
  sha256,
  startServer,
  type TestImage,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStorage, tempDir } from './helpers.js';

/** A few trials by default; every one of them under `WHARF_STRESS=1`. */
const TRIALS = rounds(4, 24);
const LAYER_SIZE = 20 * 1024 * 1024 + 4321;
const CHUNK = 4 * 1024 * 1024;

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** The path and query of a `Location` (the server's port changes across restarts). */
function pathOf(location: string): string {
  const url = new URL(location);
  return url.pathname + url.search;
}

/** A step of a push: the requests the crash may interrupt. */
type Step = { kind: 'post' | 'patch' | 'put' | 'manifest'; blob?: string };

/** Where an interrupted push stood: the upload in progress, if any. */
interface Progress {
  location?: string;
  blob?: string;
}

/**
 * Pushes an image with chunked uploads, calling `before` ahead of every request so the test can
 * schedule a crash inside any of them. Resolves the duration of each step.
 */
async function pushImage(
  client: OciClient,
  repo: string,
  tag: string,
  image: TestImage,
  progress: Progress,
  before: (index: number, step: Step) => void,
): Promise<number[]> {
  const durations: number[] = [];
  let index = 0;
  const step = async <T>(s: Step, run: () => Promise<T>): Promise<T> => {
    before(index++, s);
    const started = performance.now();
    const result = await run();
    durations.push(performance.now() - started);
    return result;
  };
  for (const blob of [image.config, ...image.layers]) {
    progress.blob = blob.digest;
    progress.location = undefined;
    let location = await step({ kind: 'post', blob: blob.digest }, () => client.startUpload(repo));
    progress.location = pathOf(location);
    for (let offset = 0; offset < blob.bytes.byteLength; offset += CHUNK) {
      const end = Math.min(offset + CHUNK, blob.bytes.byteLength);
      const res = await step({ kind: 'patch', blob: blob.digest }, async () => {
        const r = await client.request('PATCH', location, {
          body: blob.bytes.subarray(offset, end),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end - 1}` },
        });
        await r.arrayBuffer();
        return r;
      });
      if (res.status !== 202) throw new Error(`PATCH ${offset}: ${res.status}`);
      location = client.location(res);
      progress.location = pathOf(location);
    }
    const put = await step({ kind: 'put', blob: blob.digest }, async () => {
      const r = await client.request('PUT', withDigest(location, blob.digest), {
        headers: { 'Content-Length': '0' },
      });
      await r.arrayBuffer();
      return r;
    });
    if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
    progress.location = undefined;
  }
  progress.blob = undefined;
  const res = await step({ kind: 'manifest' }, async () => {
    const r = await client.putManifest(repo, tag, image.manifest, image.mediaType);
    await r.arrayBuffer();
    return r;
  });
  if (res.status !== 201) throw new Error(`manifest PUT: ${res.status}`);
  return durations;
}

/** Finishes a blob after a crash: resume from the session's status when it survived, else start over. */
async function finishBlob(
  client: OciClient,
  repo: string,
  blob: Content,
  location: string | undefined,
): Promise<'present' | 'resumed' | 'restarted'> {
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  if (head.status === 200) {
    expect(head.headers.get('content-length')).toBe(String(blob.bytes.byteLength));
    return 'present';
  }
  if (location) {
    const status = await client.request('GET', location);
    if (status.status === 204) {
      const range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
      expect(range, 'a live session reports its Range').not.toBeNull();
      // Chunks here are never 1 byte, so "0-0" is an empty session.
      let offset = range![1] === '0' ? 0 : Number(range![1]) + 1;
      expect(offset).toBeLessThanOrEqual(blob.bytes.byteLength);
      expect(offset % CHUNK === 0 || offset === blob.bytes.byteLength).toBe(true);
      let at = client.location(status);
      while (offset < blob.bytes.byteLength) {
        const end = Math.min(offset + CHUNK, blob.bytes.byteLength);
        const res = await client.request('PATCH', at, {
          body: blob.bytes.subarray(offset, end),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end - 1}` },
        });
        expect(res.status, await res.text()).toBe(202);
        at = client.location(res);
        offset = end;
      }
      const put = await client.request('PUT', withDigest(at, blob.digest), {
        headers: { 'Content-Length': '0' },
      });
      expect(put.status, await put.text()).toBe(201);
      return 'resumed';
    }
    expect(status.status).toBe(404);
  }
  await client.pushBlob(repo, blob.bytes, 'chunked', CHUNK);
  return 'restarted';
}

/**
 * docs/architecture.md, upload rule 6: a crash at any point (here SIGKILL of the server in the
 * middle of PATCHes, commits and manifest writes) leaves no partial blob and no reference to missing data, and the
 * client can always finish its push.
 */
describe('kill -9 of the server during chunked pushes (fs)', () => {
  let server: ServerProcess | undefined;
  let root: { dir: string; remove: () => Promise<void> };
  const env = (): Record<string, string> => ({ WHARF_STORAGE: 'fs', WHARF_ROOT: root.dir });

  beforeAll(async () => {
    root = await tempDir('crash');
  });

  afterAll(async () => {
    await server?.stop();
    await root?.remove();
  });

  it(`recovers from ${TRIALS} crashes at random points`, async () => {
    server = await startServer({ env: env() });
    // Calibrate: how long each step of an undisturbed push takes.
    const steps: Step[] = [];
    const durations = await pushImage(
      new OciClient(server.url),
      'crash/calibrate',
      'v1',
      makeImage({ layers: [LAYER_SIZE] }),
      {},
      (_, step) => steps.push(step),
    );
    const outcomes: Record<string, number> = {};
    const interrupted: Record<string, number> = {};

    // Crash inside every kind of step in turn (commits twice as often: they are short).
    const kinds: Step['kind'][] = ['patch', 'put', 'post', 'put', 'manifest', 'patch'];
    // A push may finish before its timer fires. The checks below need crashes inside a PATCH and a
    // commit, and a resumed upload; when chance gave none, extra trials aim earlier until it does.
    const missing = (): Step['kind'] | undefined =>
      !interrupted['patch:interrupted'] || !outcomes.resumed
        ? 'patch'
        : !interrupted['put:interrupted']
          ? 'put'
          : undefined;
    const EXTRA = 8;
    for (let trial = 0; trial < TRIALS + EXTRA; trial++) {
      const extra = trial >= TRIALS;
      const kind = extra ? missing() : kinds[trial % kinds.length]!;
      if (!kind) break;
      const client = new OciClient(server.url);
      const repo = `crash/t${trial % 5}`;
      const image = makeImage({ layers: [LAYER_SIZE] });
      const candidates = steps.flatMap((s, i) => (s.kind === kind ? [i] : []));
      // Extra trials aim at the longest step of the kind (the layer's), early in it.
      const target = extra
        ? candidates.reduce((a, b) => (durations[b]! > durations[a]! ? b : a))
        : candidates[Math.floor(Math.random() * candidates.length)]!;
      const delay = Math.random() * durations[target]! * (extra ? 0.5 : 1.2);
      const progress: Progress = {};
      const running = server;
      let timer: NodeJS.Timeout | undefined;
      let killed: Promise<void> | undefined;
      const push = pushImage(client, repo, 'v1', image, progress, (index) => {
        if (index === target) {
          timer = setTimeout(() => {
            killed = running.kill();
          }, delay);
        }
      }).then(
        () => 'completed',
        () => 'interrupted',
      );
      const result = await push;
      clearTimeout(timer);
      // The push may finish before the timer fires: crash anyway, between requests.
      await (killed ?? running.kill());
      interrupted[`${kind}:${result}`] = (interrupted[`${kind}:${result}`] ?? 0) + 1;

      server = await startServer({ env: env() });
      const problems = await checkStorage(root.dir);
      expect(problems, `trial ${trial} (crash in ${kind})`).toEqual([]);

      const after = new OciClient(server.url);
      for (const blob of [image.config, ...image.layers]) {
        const outcome = await finishBlob(
          after,
          repo,
          blob,
          progress.blob === blob.digest ? progress.location : undefined,
        );
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      const manifest = await after.putManifest(repo, 'v1', image.manifest, image.mediaType);
      expect(manifest.status, await manifest.text()).toBe(201);
      await after.pullImage(repo, 'v1', image);
      const layer = await after.getBlob(repo, image.layers[0]!.digest);
      expect(sha256(layer)).toBe(image.layers[0]!.digest);
    }
    expect(await checkStorage(root.dir)).toEqual([]);
    // Crashes hit PATCHes and commits, and both resuming and starting over were needed.
    expect(Object.keys(interrupted).some((k) => k.startsWith('patch:interrupted'))).toBe(true);
    expect(Object.keys(interrupted).some((k) => k.startsWith('put:interrupted'))).toBe(true);
    expect(outcomes.resumed ?? 0).toBeGreaterThan(0);

    // Killed commits left their sessions in the temporary directory; garbage collection removes
    // them (and every abandoned session) once older than its upload max age.
    await server.stop();
    const storage = await createFsStorage({ root: root.dir });
    const report = await createRegistry({ storage }).gc({ uploadMaxAge: 0 });
    await storage.close();
    expect(await readdir(join(root.dir, 'docker/registry/v2/_wharf/tmp'))).toEqual([]);
    expect(await readdir(join(root.dir, 'docker/registry/v2/_wharf/uploads'))).toEqual([]);
    expect(report.deleted.leftovers.every((l) => l.description.startsWith('_wharf/'))).toBe(true);
  }, 600_000);
});
