import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { download, expectStatus, locationOf, send, sha256, withDigest } from './http.js';
import { cpuSeconds, quiesce, rssBytes, sampleRss } from './proc.js';
import { MiB, percentile } from './stats.js';
import { type Target, WORK } from './targets.js';

/** One measurement of one scenario against one target. */
export interface Sample {
  /** The scenario's headline number (see `unit`). */
  readonly value: number;
  /** CPU seconds the server process used during the measurement. */
  readonly cpu: number;
  readonly extra?: Record<string, number>;
}

/** Blob content that differs per repetition (so no run is a deduplicated no-op). */
export function variant(base: Buffer, n: number): { bytes: Buffer; digest: string } {
  const bytes = Buffer.from(base);
  bytes.writeBigUInt64BE(BigInt(Date.now()) * 1000n + BigInt(n), 0);
  return { bytes, digest: sha256(bytes) };
}

async function measure(
  target: Target,
  work: () => Promise<unknown>,
): Promise<{ seconds: number; cpu: number; extra?: Record<string, number> }> {
  // Write back what earlier measurements left dirty, so that no target pays for another's writes.
  spawnSync('sync');
  await quiesce();
  const cpu0 = cpuSeconds(target.pid);
  const t0 = performance.now();
  const extra = (await work()) as Record<string, number> | undefined;
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, cpu: cpuSeconds(target.pid) - cpu0, ...(extra ? { extra } : {}) };
}

async function startUpload(base: string, repo: string): Promise<string> {
  const post = await send(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(post, 202, 'POST upload');
  return locationOf(post);
}

/** POST then PUT with the whole blob (the flow both registries support). */
export async function pushMonolithic(
  base: string,
  repo: string,
  blob: { bytes: Buffer; digest: string },
): Promise<void> {
  const location = await startUpload(base, repo);
  const put = await send(base, 'PUT', withDigest(location, blob.digest), blob.bytes, {
    'Content-Type': 'application/octet-stream',
  });
  expectStatus(put, 201, 'PUT blob');
}

/** Chunked upload: PATCHes of `chunk` bytes (with Content-Range), or one PATCH without it, then an empty PUT. */
export async function pushChunked(
  base: string,
  repo: string,
  blob: { bytes: Buffer; digest: string },
  chunk: number | 'single',
): Promise<void> {
  let location = await startUpload(base, repo);
  if (chunk === 'single') {
    const patch = await send(base, 'PATCH', location, blob.bytes, {
      'Content-Type': 'application/octet-stream',
    });
    expectStatus(patch, 202, 'PATCH');
    location = locationOf(patch);
  } else {
    for (let offset = 0; offset < blob.bytes.byteLength; offset += chunk) {
      const part = blob.bytes.subarray(offset, Math.min(offset + chunk, blob.bytes.byteLength));
      const patch = await send(base, 'PATCH', location, part, {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + part.byteLength - 1}`,
      });
      expectStatus(patch, 202, `PATCH at ${offset}`);
      location = locationOf(patch);
    }
  }
  const put = await send(base, 'PUT', withDigest(location, blob.digest));
  expectStatus(put, 201, 'closing PUT');
}

/** A single POST with the digest where the registry supports it, else POST then PUT. */
async function pushSmall(base: string, repo: string, blob: { bytes: Buffer; digest: string }): Promise<void> {
  const post = await send(
    base,
    'POST',
    `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(blob.digest)}`,
    blob.bytes,
    {
      'Content-Type': 'application/octet-stream',
    },
  );
  if (post.status === 201) return;
  expectStatus(post, 202, 'POST small blob');
  const put = await send(base, 'PUT', withDigest(locationOf(post), blob.digest), blob.bytes, {
    'Content-Type': 'application/octet-stream',
  });
  expectStatus(put, 201, 'PUT small blob');
}

export async function scenarioPush(target: Target, base: Buffer, rep: number): Promise<Sample> {
  const blob = variant(base, rep);
  const { seconds, cpu } = await measure(target, () => pushMonolithic(target.url, 'bench/push', blob));
  await target.discard(blob.digest);
  return { value: blob.bytes.byteLength / MiB / seconds, cpu };
}

/** Stores a body on a raw baseline server (which names it by its digest). */
export async function pushRaw(base: string, blob: { bytes: Buffer; digest: string }): Promise<void> {
  const reply = await send(base, 'PUT', `/upload?digest=${encodeURIComponent(blob.digest)}`, blob.bytes);
  expectStatus(reply, 201, 'raw PUT');
}

/** The raw PUT baselines: the same body to a server that only hashes and stores it. */
export async function scenarioRawPut(target: Target, base: Buffer, rep: number): Promise<Sample> {
  const blob = variant(base, rep);
  const { seconds, cpu } = await measure(target, () => pushRaw(target.url, blob));
  await target.discard(blob.digest);
  return { value: blob.bytes.byteLength / MiB / seconds, cpu };
}

export async function scenarioPull(target: Target, path: string, digest: string): Promise<Sample> {
  let size = 0;
  const { seconds, cpu } = await measure(target, async () => {
    const result = await download(target.url, path);
    if (result.status !== 200 || result.digest !== digest)
      throw new Error(`pull: ${result.status} ${result.digest}`);
    size = result.size;
  });
  return { value: size / MiB / seconds, cpu };
}

export async function scenarioChunked(
  target: Target,
  base: Buffer,
  rep: number,
  chunk: number | 'single',
): Promise<Sample> {
  const blob = variant(base, rep + 1000);
  const { seconds, cpu } = await measure(target, () => pushChunked(target.url, 'bench/chunked', blob, chunk));
  await target.discard(blob.digest);
  return { value: blob.bytes.byteLength / MiB / seconds, cpu };
}

/** Many small blobs at a given concurrency; blobs per second. */
export async function scenarioSmall(
  target: Target,
  count: number,
  size: number,
  concurrency: number,
  rep: number,
): Promise<Sample> {
  const blobs = Array.from({ length: count }, (_, i) => variant(randomBytes(size), rep * count + i));
  let next = 0;
  const { seconds, cpu } = await measure(target, async () => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < blobs.length) {
          const blob = blobs[next++]!;
          await pushSmall(target.url, 'bench/small', blob);
        }
      }),
    );
  });
  return { value: count / seconds, cpu };
}

/** 16 clients pushing the same blob at once in 8 MiB chunks; aggregate MiB/s and failures. */
export async function scenarioSameBlob(
  target: Target,
  base: Buffer,
  rep: number,
  clients: number,
): Promise<Sample> {
  const blob = variant(base, rep + 2000);
  let failures = 0;
  const { seconds, cpu } = await measure(target, async () => {
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        try {
          await pushChunked(target.url, `bench/same${i % 4}`, blob, 8 * MiB);
          const head = await send(target.url, 'HEAD', `/v2/bench/same${i % 4}/blobs/${blob.digest}`);
          if (head.status !== 200 || head.headers['content-length'] !== String(blob.bytes.byteLength))
            failures++;
        } catch {
          failures++;
        }
      }),
    );
    return { failures };
  });
  await target.discard(blob.digest);
  return { value: (clients * blob.bytes.byteLength) / MiB / seconds, cpu, extra: { failures } };
}

/** Peak RSS growth of the server while it receives a large monolithic push. */
export async function scenarioRss(target: Target, base: Buffer, rep: number): Promise<Sample> {
  const blob = variant(base, rep + 3000);
  const before = rssBytes(target.pid);
  const sampler = sampleRss(target.pid);
  const { cpu } = await measure(target, () => pushMonolithic(target.url, 'bench/rss', blob));
  const peak = sampler.stop();
  await target.discard(blob.digest);
  return { value: (peak - before) / MiB, cpu, extra: { baseline: before / MiB, peak: peak / MiB } };
}

/** Pushes a small image tagged `latest`; returns the layer digest (for HEAD) and the tag path. */
export async function seedImage(target: Target): Promise<{ blobPath: string; manifestPath: string }> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layer = randomBytes(4096);
  const configBlob = { bytes: config, digest: sha256(config) };
  const layerBlob = { bytes: layer, digest: sha256(layer) };
  await pushMonolithic(target.url, 'bench/image', configBlob);
  await pushMonolithic(target.url, 'bench/image', layerBlob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configBlob.digest,
        size: config.byteLength,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: layerBlob.digest,
          size: layer.byteLength,
        },
      ],
    }),
  );
  const put = await send(target.url, 'PUT', '/v2/bench/image/manifests/latest', manifest, {
    'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
  });
  expectStatus(put, 201, 'PUT manifest');
  return {
    blobPath: `/v2/bench/image/blobs/${layerBlob.digest}`,
    manifestPath: '/v2/bench/image/manifests/latest',
  };
}

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a load tool and resolves its standard output. */
function capture(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.resume();
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${command} failed: ${text}`)),
    );
  });
}

/** Fixed-concurrency load for `seconds` (wrk when installed, else a Node loop); req/s and latency. */
export async function scenarioLoad(
  target: Target,
  method: 'HEAD' | 'GET',
  path: string,
  seconds: number,
  connections: number,
): Promise<Sample> {
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  await quiesce();
  // wrk waits for a body after a HEAD response with Content-Length, so HEAD goes through ab.
  if (method === 'HEAD' && hasTool('ab')) {
    const cpu0 = cpuSeconds(target.pid);
    const output = await capture('ab', [
      '-i',
      '-k',
      '-l',
      '-c',
      String(connections),
      '-t',
      String(seconds),
      '-n',
      '100000000',
      `${target.url}${path}`,
    ]);
    const cpu = cpuSeconds(target.pid) - cpu0;
    const rps = Number(/Requests per second:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
    const p50 = Number(/^\s+50%\s+(\d+)/m.exec(output)?.[1] ?? Number.NaN);
    const p99 = Number(/^\s+99%\s+(\d+)/m.exec(output)?.[1] ?? Number.NaN);
    const errors =
      Number(/Non-2xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0) +
      Number(/Failed requests:\s+(\d+)/.exec(output)?.[1] ?? 0);
    return { value: rps, cpu, extra: { p50ms: p50, p99ms: p99, errors } };
  }
  if (method === 'GET' && hasTool('wrk')) {
    const script = join(WORK, `wrk-${method}.lua`);
    await writeFile(script, `wrk.method = "${method}"\nwrk.headers["Accept"] = "${accept}"\n`);
    const cpu0 = cpuSeconds(target.pid);
    const output = await capture('wrk', [
      '-t2',
      `-c${connections}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      script,
      `${target.url}${path}`,
    ]);
    const cpu = cpuSeconds(target.pid) - cpu0;
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
    const p50 = wrkLatency(output, '50%');
    const p99 = wrkLatency(output, '99%');
    const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
    return { value: rps, cpu, extra: { p50ms: p50, p99ms: p99, errors } };
  }
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const { cpu, seconds: elapsed } = await measure(target, async () => {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          const reply = await send(target.url, method, path, undefined, { Accept: accept });
          latencies.push(performance.now() - t0);
          if (reply.status !== 200) errors++;
        }
      }),
    );
  });
  return {
    value: latencies.length / elapsed,
    cpu,
    extra: { p50ms: percentile(latencies, 50), p99ms: percentile(latencies, 99), errors },
  };
}

function wrkLatency(output: string, label: string): number {
  const match = new RegExp(`${label.replace('%', '%')}\\s+([\\d.]+)(us|ms|s)`).exec(output);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}
