import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRegistry, type Registry } from '../registry.js';
import type { RegistryStorage } from '../stores/types.js';
import type { StoreHarness } from './harness.js';

/** A minimal image for garbage collection tests. */
interface Image {
  readonly blobs: ReadonlyArray<{ readonly digest: string; readonly bytes: Buffer }>;
  readonly manifest: Buffer;
  readonly digest: string;
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(bytes: Buffer): { digest: string; bytes: Buffer } {
  return { digest: sha256(bytes), bytes };
}

function image(layers: ReadonlyArray<{ digest: string; bytes: Buffer }>, subject?: string): Image {
  const config = blob(Buffer.from(JSON.stringify({ os: 'linux', nonce: randomBytes(8).toString('hex') })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.bytes.byteLength,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: l.digest,
        size: l.bytes.byteLength,
      })),
      ...(subject ? { subject: { mediaType: MANIFEST, digest: subject, size: 1 } } : {}),
    }),
  );
  return { blobs: [config, ...layers], manifest, digest: sha256(manifest) };
}

async function pushBlob(
  registry: Registry,
  repo: string,
  b: { digest: string; bytes: Buffer },
): Promise<void> {
  const res = await registry.fetch(`/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
    method: 'POST',
    body: b.bytes,
  });
  if (res.status !== 201) throw new Error(`blob push ${res.status}: ${await res.text()}`);
}

async function putManifest(registry: Registry, repo: string, ref: string, img: Image): Promise<number> {
  const res = await registry.fetch(`/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    body: img.manifest,
    headers: { 'Content-Type': MANIFEST },
  });
  await res.arrayBuffer();
  return res.status;
}

/** Pulls an image by tag and checks every byte; resolves a description of what is wrong, or undefined. */
async function verifyPull(
  registry: Registry,
  repo: string,
  tag: string,
  img: Image,
): Promise<string | undefined> {
  const res = await registry.fetch(`/v2/${repo}/manifests/${tag}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return `${repo}:${tag} manifest ${res.status}`;
  if (!bytes.equals(img.manifest)) return `${repo}:${tag} points elsewhere`;
  for (const b of img.blobs) {
    const r = await registry.fetch(`/v2/${repo}/blobs/${b.digest}`);
    const data = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200 || sha256(data) !== b.digest) return `${repo}:${tag} blob ${b.digest} ${r.status}`;
  }
  return undefined;
}

/** Every blob digest in storage. */
async function storedBlobs(storage: RegistryStorage): Promise<Set<string>> {
  const digests = new Set<string>();
  for await (const info of storage.blobs.list()) digests.add(info.digest);
  return digests;
}

/** Everything observable in storage, for dry-run comparisons. */
async function snapshot(storage: RegistryStorage): Promise<string> {
  const parts: string[] = [];
  for await (const b of storage.blobs.list()) parts.push(`blob ${b.digest} ${b.size}`);
  for await (const u of storage.uploads.list()) parts.push(`upload ${u.id} ${u.size}`);
  for (const repo of await storage.metadata.listRepositories()) {
    for await (const l of storage.metadata.listBlobLinks(repo)) parts.push(`link ${repo} ${l.digest}`);
    for await (const m of storage.metadata.listManifests(repo)) parts.push(`manifest ${repo} ${m.digest}`);
    for (const tag of await storage.metadata.listTags(repo)) {
      parts.push(`tag ${repo} ${tag} ${await storage.metadata.getTag(repo, tag)}`);
    }
  }
  return parts.sort().join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Methods that return a stream rather than a promise. */
const STREAMING = new Set(['list', 'read', 'listBlobLinks', 'listManifests']);

/**
 * The same storage with a random delay before every operation, so that concurrent requests and a
 * collection interleave the way they do on a real disk or object store.
 */
export function withLatency(storage: RegistryStorage, maxDelayMs: number): RegistryStorage {
  const delay = () => sleep(Math.random() * maxDelayMs);
  const wrap = <T extends object>(store: T): T =>
    new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (STREAMING.has(String(prop))) {
          return async function* (...args: unknown[]) {
            await delay();
            yield* method.apply(target, args) as AsyncIterable<unknown>;
          };
        }
        return async (...args: unknown[]) => {
          await delay();
          return method.apply(target, args);
        };
      },
    });
  return { blobs: wrap(storage.blobs), uploads: wrap(storage.uploads), metadata: wrap(storage.metadata) };
}

/** Options of {@link defineGcSuite}. */
export interface GcSuiteOptions {
  readonly name: string;
  readonly create: () => Promise<StoreHarness>;
  /** How long the concurrent push/GC stress runs, in milliseconds. Default 8 s. */
  readonly stressMs?: number;
  readonly timeout?: number;
}

/**
 * Registers garbage collection tests against a backend: correctness after deletes, dry runs,
 * upload reaping, and a stress run where GC loops while pushes, tag moves and deletes continue.
 */
export function defineGcSuite(options: GcSuiteOptions): void {
  const use =
    (body: (storage: RegistryStorage, h: StoreHarness) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await options.create();
      try {
        await body(harness.storage, harness);
      } finally {
        await harness.cleanup?.();
      }
    };

  describe(`garbage collection: ${options.name}`, { timeout: options.timeout ?? 120_000 }, () => {
    it(
      'deletes exactly what no tag reaches, past the grace period',
      use(async (storage) => {
        const registry = createRegistry({ storage });
        const base = blob(randomBytes(3000));
        const kept = image([base, blob(randomBytes(100))]);
        const dropped = image([base, blob(randomBytes(200))]);
        const untagged = image([blob(randomBytes(300))]);
        const child = image([blob(randomBytes(50))]);
        const signature = image([blob(randomBytes(60))], kept.digest);
        for (const [repo, img, ref] of [
          ['app', kept, 'v1'],
          ['app', dropped, 'v2'],
          ['app', untagged, 'scratch'],
          ['other', child, 'tmp'],
          ['app', signature, 'sig'],
        ] as const) {
          for (const b of img.blobs) await pushBlob(registry, repo, b);
          expect(await putManifest(registry, repo, ref, img)).toBe(201);
        }
        const index = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [{ mediaType: MANIFEST, digest: child.digest, size: child.manifest.byteLength }],
          }),
        );
        const indexRes = await registry.fetch('/v2/other/manifests/index', {
          method: 'PUT',
          body: index,
          headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' },
        });
        expect(indexRes.status).toBe(201);
        // An orphan blob, linked nowhere, and a link nothing references.
        const orphan = blob(randomBytes(400));
        await storage.blobs.put(
          orphan.digest,
          (async function* () {
            yield orphan.bytes;
          })(),
        );
        const stray = blob(randomBytes(500));
        await pushBlob(registry, 'other', stray);

        for (const ref of ['v2', 'scratch', 'sig']) {
          expect((await registry.fetch(`/v2/app/manifests/${ref}`, { method: 'DELETE' })).status).toBe(202);
        }
        expect((await registry.fetch('/v2/other/manifests/tmp', { method: 'DELETE' })).status).toBe(202);
        expect(
          (await registry.fetch(`/v2/app/manifests/${dropped.digest}`, { method: 'DELETE' })).status,
        ).toBe(202);

        // Within the grace period nothing goes.
        const early = await registry.gc({ gracePeriod: 60 * 60 * 1000, deleteUntagged: true });
        expect(early.deleted.blobs).toEqual([]);
        expect(early.deleted.links).toEqual([]);

        await sleep(1100);
        const report = await registry.gc({ gracePeriod: 1000, deleteUntagged: true });
        const left = await storedBlobs(storage);
        // Kept: the tagged image, its referrer (signature), the index and its child.
        for (const digest of [
          kept.digest,
          ...kept.blobs.map((b) => b.digest),
          signature.digest,
          ...signature.blobs.map((b) => b.digest),
          sha256(index),
          child.digest,
          ...child.blobs.map((b) => b.digest),
        ]) {
          expect(left.has(digest), digest).toBe(true);
        }
        // Gone: the deleted and the untagged image's own content, the orphan, the stray blob.
        for (const digest of [
          dropped.digest,
          dropped.blobs[0]!.digest,
          dropped.blobs[2]!.digest,
          untagged.digest,
          ...untagged.blobs.map((b) => b.digest),
          orphan.digest,
          stray.digest,
        ]) {
          expect(left.has(digest), digest).toBe(false);
        }
        expect(report.deleted.manifests.map((m) => m.digest)).toEqual([untagged.digest]);
        expect(report.deleted.links).toContainEqual({ repository: 'other', digest: stray.digest });
        expect(report.bytesReclaimed).toBeGreaterThan(0);
        expect(await verifyPull(registry, 'app', 'v1', kept)).toBeUndefined();
        expect(
          (await registry.fetch(`/v2/app/referrers/${kept.digest}`).then((r) => r.json())) as object,
        ).toMatchObject({
          manifests: [{ digest: signature.digest }],
        });
        // A second collection finds nothing more.
        const again = await registry.gc({ gracePeriod: 0, deleteUntagged: true });
        expect(again.deleted.blobs).toEqual([]);
        expect(again.deleted.manifests).toEqual([]);
      }),
    );

    it(
      'keeps untagged manifests unless asked, and changes nothing in a dry run',
      use(async (storage) => {
        const registry = createRegistry({ storage });
        const img = image([blob(randomBytes(100))]);
        for (const b of img.blobs) await pushBlob(registry, 'repo', b);
        expect(await putManifest(registry, 'repo', img.digest, img)).toBe(201);
        await pushBlob(registry, 'repo', blob(randomBytes(10)));
        await sleep(1100);
        const before = await snapshot(storage);
        const dry = await registry.gc({
          gracePeriod: 1000,
          deleteUntagged: true,
          dryRun: true,
          uploadMaxAge: 0,
        });
        expect(dry.dryRun).toBe(true);
        expect(dry.deleted.manifests).toHaveLength(1);
        expect(dry.deleted.blobs.length).toBeGreaterThan(0);
        expect(await snapshot(storage)).toBe(before);
        const keep = await registry.gc({ gracePeriod: 1000 });
        expect(keep.deleted.manifests).toEqual([]);
        expect((await registry.fetch(`/v2/repo/manifests/${img.digest}`)).status).toBe(200);
        // The unreferenced link and its blob go even when untagged manifests stay.
        expect(keep.deleted.links).toHaveLength(1);
        expect(keep.deleted.blobs).toHaveLength(1);
      }),
    );

    it(
      'reaps idle upload sessions with their staged data, leaving recent ones resumable',
      use(async (storage, harness) => {
        const registry = createRegistry({ storage });
        const before = (await harness.inspect?.()) ?? [];
        const stale = await registry.fetch('/v2/repo/blobs/uploads/', { method: 'POST' });
        const staleLocation = stale.headers.get('location')!;
        await registry.fetch(staleLocation, { method: 'PATCH', body: randomBytes(100_000) });
        await sleep(1500);
        const fresh = await registry.fetch('/v2/repo/blobs/uploads/', { method: 'POST' });
        const freshLocation = fresh.headers.get('location')!;
        const data = randomBytes(50_000);
        await registry.fetch(freshLocation, { method: 'PATCH', body: data.subarray(0, 20_000) });
        const report = await registry.gc({ uploadMaxAge: 1000 });
        expect(report.deleted.uploads.map((u) => `/v2/repo/blobs/uploads/${u.id}`)).toEqual([staleLocation]);
        expect(report.deleted.uploads[0]!.size).toBe(100_000);
        expect((await registry.fetch(staleLocation)).status).toBe(404);
        await registry.fetch(freshLocation, { method: 'PATCH', body: data.subarray(20_000) });
        const put = await registry.fetch(`${freshLocation}?digest=${sha256(data)}`, { method: 'PUT' });
        expect(put.status).toBe(201);
        if (harness.inspect) {
          // Nothing of the reaped session is left: only the committed blob (and its link) are new.
          const after = (await harness.inspect()).filter((k) => !before.includes(k));
          expect(after.every((k) => !k.includes(staleLocation.split('/').pop()!))).toBe(true);
        }
      }),
    );

    it(
      'never breaks a tagged image while pushes, tag moves and deletes run during collections',
      use(async (storage) => {
        const writers = [createRegistry({ storage }), createRegistry({ storage })];
        const collector = createRegistry({ storage });
        const bases = Array.from({ length: 4 }, () => blob(randomBytes(2000)));
        // The tag each worker owns, and the image its last successful push put there.
        const expected = new Map<string, { repo: string; tag: string; img: Image }>();
        const failures: string[] = [];
        // Operations on a tag bump its generation; a pull that overlapped one proves nothing.
        const generation = new Map<string, number>();
        const busy = new Set<string>();
        const begin = (k: string) => {
          busy.add(k);
          generation.set(k, (generation.get(k) ?? 0) + 1);
        };
        const end = (k: string) => busy.delete(k);
        let stop = false;
        let pushes = 0;
        let collections = 0;

        const worker = async (w: number) => {
          const registry = writers[w % writers.length]!;
          for (let i = 0; !stop; i++) {
            const repo = `team${w % 3}/app`;
            const tag = `w${w}-t${i % 3}`;
            const img = image([bases[(w + i) % bases.length]!, blob(randomBytes(500))]);
            for (const b of img.blobs) {
              if (b === bases[(w + i) % bases.length] && i % 2 === 0 && w > 0) {
                // Reuse an old layer by mounting it from another repository.
                const res = await registry.fetch(
                  `/v2/${repo}/blobs/uploads/?mount=${b.digest}&from=team0/app`,
                  { method: 'POST' },
                );
                if (res.status === 201) continue;
              }
              await pushBlob(registry, repo, b);
            }
            if (i % 5 === 4) await sleep(60); // blobs older than the grace period before the manifest
            begin(`${repo} ${tag}`);
            const status = await putManifest(registry, repo, tag, img);
            if (status === 201) {
              expected.set(`${repo} ${tag}`, { repo, tag, img });
              pushes++;
            }
            end(`${repo} ${tag}`);
            if (i % 7 === 6) {
              // Delete an older tag of ours.
              const old = `w${w}-t${(i + 1) % 3}`;
              begin(`${repo} ${old}`);
              const res = await registry.fetch(`/v2/${repo}/manifests/${old}`, { method: 'DELETE' });
              if (res.status === 202) expected.delete(`${repo} ${old}`);
              end(`${repo} ${old}`);
            }
          }
        };

        const verifier = async () => {
          while (!stop) {
            for (const [k, { repo, tag, img }] of [...expected.entries()]) {
              if (busy.has(k)) continue;
              const before = generation.get(k);
              const problem = await verifyPull(collector, repo, tag, img);
              const still = expected.get(k)?.img === img;
              if (problem && still && !busy.has(k) && generation.get(k) === before) failures.push(problem);
            }
            await sleep(10);
          }
        };

        const gcLoop = async () => {
          while (!stop) {
            await collector.gc({
              gracePeriod: 50,
              deleteUntagged: collections % 2 === 1,
              uploadMaxAge: 60_000,
            });
            collections++;
            await sleep(5);
          }
        };

        const running = [...Array.from({ length: 4 }, (_, w) => worker(w)), verifier(), gcLoop()];
        await sleep(options.stressMs ?? 8000);
        stop = true;
        await Promise.all(running);
        for (const { repo, tag, img } of expected.values()) {
          const problem = await verifyPull(collector, repo, tag, img);
          if (problem) failures.push(`final: ${problem}`);
        }
        expect(failures).toEqual([]);
        expect(pushes).toBeGreaterThan(10);
        expect(collections).toBeGreaterThan(2);
      }),
    );
  });
}
