/**
 * `pnpm bench`: one benchmark session, wharf side by side with CNCF distribution (Debian's
 * docker-registry) and raw node:http baselines, all measured in the same run so that ratios hold
 * on a noisy machine. Prints a table and writes bench/results/latest.{json,md}.
 *
 * Flags: --quick (small sizes, one repetition), --only=<scenario,...>, --targets=<name,...>,
 * --reps=<n>, --memory (also measure wharf on memory storage).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchEvents } from './events.js';
import { goalChecks } from './lib/goals.js';
import { send, sha256 } from './lib/http.js';
import { BenchBuckets, s3Endpoint } from './lib/s3.js';
import {
  pushMonolithic,
  pushRaw,
  type Sample,
  scenarioChunked,
  scenarioLoad,
  scenarioPull,
  scenarioPush,
  scenarioRawPut,
  scenarioRss,
  scenarioSameBlob,
  scenarioSmall,
  seedImage,
  variant,
} from './lib/scenarios.js';
import { removeWork, settleRemovals } from './lib/settle.js';
import { type GoalCheck, MiB, median } from './lib/stats.js';
import {
  hasDistribution,
  ROOT,
  startDistributionFs,
  startDistributionS3,
  startRaw,
  startWharf,
  type Target,
  WORK,
  WORK_REMOVED,
} from './lib/targets.js';
import { benchProxy } from './proxy.js';

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key!, value ?? 'true'] as const;
  }),
);
const quick = args.has('quick');
const reps = Number(args.get('reps') ?? (quick ? 1 : 3));
const only = args.get('only')?.split(',');
const onlyTargets = args.get('targets')?.split(',');
const BIG = (quick ? 64 : 512) * MiB;
const HUGE = (quick ? 128 : 1024) * MiB;
const SAME = (quick ? 16 : 64) * MiB;
const SMALL_COUNT = quick ? 400 : 2000;
const LOAD_SECONDS = quick ? 3 : 10;

type Unit = 'MiB/s' | 'blobs/s' | 'req/s' | 'MiB';
interface Result {
  readonly unit: Unit;
  readonly value: number;
  readonly cpu: number;
  readonly extra: Record<string, number>;
  readonly samples: number[];
}
const results = new Map<string, Map<string, Result>>();
/** Ratios that scenario modules compute themselves (`events.ts`, `proxy.ts`). */
const extraChecks: GoalCheck[] = [];

function record(scenario: string, target: string, unit: Unit, samples: Sample[]): void {
  const extraKeys = new Set(samples.flatMap((s) => Object.keys(s.extra ?? {})));
  const extra = Object.fromEntries(
    [...extraKeys].map((k) => [k, median(samples.map((s) => s.extra?.[k] ?? 0))]),
  );
  const result: Result = {
    unit,
    value: median(samples.map((s) => s.value)),
    cpu: median(samples.map((s) => s.cpu)),
    extra,
    samples: samples.map((s) => s.value),
  };
  if (!results.has(scenario)) results.set(scenario, new Map());
  results.get(scenario)!.set(target, result);
  const detail = Object.entries(extra)
    .map(([k, v]) => `${k}=${v.toFixed(2)}`)
    .join(' ');
  console.log(
    `  ${scenario.padEnd(14)} ${target.padEnd(16)} ${result.value.toFixed(1).padStart(9)} ${unit.padEnd(7)} cpu ${result.cpu.toFixed(2)}s ${detail}`,
  );
}

function wanted(scenario: string): boolean {
  return !only || only.includes(scenario);
}

/**
 * Runs `sample` `reps` times for every target, the targets in one order on even repetitions and in
 * the reverse order on odd ones: whoever runs second pays for the first's write-back and cache
 * pressure, so each pair is measured in both orders. Records the medians.
 */
async function measureAll(
  scenario: string,
  unit: Unit,
  targets: readonly Target[],
  sample: (target: Target, rep: number) => Promise<Sample>,
): Promise<void> {
  if (!wanted(scenario) || targets.length === 0) return;
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) samples.get(target.name)!.push(await sample(target, rep));
  }
  for (const target of targets) record(scenario, target.name, unit, samples.get(target.name)!);
}

async function main(): Promise<void> {
  await removeWork(WORK, WORK_REMOVED);
  await mkdir(WORK, { recursive: true });
  console.log(
    `wharf bench: ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, reps ${reps}${quick ? ' (quick)' : ''}`,
  );

  const registries: Target[] = [];
  const baselines: { get: Target[]; put: Target[] } = { get: [], put: [] };
  /** Pull ceilings: servers doing nothing a registry could do less of (`memory-get`, `bucket-get`). */
  const ceilings: Target[] = [];
  let rawBucket: string | undefined;
  const stoppers: Target[] = [];
  const want = (name: string) => !onlyTargets || onlyTargets.includes(name);
  const s3 = s3Endpoint();
  const buckets = s3 ? new BenchBuckets() : undefined;
  const start = async (name: string, launch: () => Promise<Target>, into: Target[] = registries) => {
    if (!want(name)) return;
    try {
      const target = await launch();
      into.push(target);
      stoppers.push(target);
    } catch (error) {
      console.log(`  (${name} unavailable: ${(error as Error).message.split('\n')[0]})`);
    }
  };
  try {
    await start('wharf-fs', () =>
      startWharf('wharf-fs', { WHARF_STORAGE: 'fs', WHARF_ROOT: join(WORK, 'wharf-fs') }),
    );
    if (s3 && buckets) {
      await start('wharf-s3', async () => {
        const bucket = await buckets.create('wharf');
        return startWharf(
          'wharf-s3',
          { WHARF_STORAGE: 's3', S3_BUCKET: bucket, S3_PREFIX: '' },
          buckets.blobDiscarder(bucket),
        );
      });
    }
    if (args.has('memory') || registries.length === 0)
      await start('wharf-memory', () => startWharf('wharf-memory', { WHARF_STORAGE: 'memory' }));
    if (hasDistribution()) {
      await start('distribution-fs', () => startDistributionFs(join(WORK, 'distribution-fs', 'root')));
      if (s3 && buckets) {
        await start('distribution-s3', async () => {
          const bucket = await buckets.create('distribution');
          return startDistributionS3(
            join(WORK, 'distribution-s3'),
            s3,
            bucket,
            buckets.blobDiscarder(bucket),
          );
        });
      }
    }

    const base = randomBytes(BIG);
    const rawFile = join(WORK, 'raw-get.bin');
    await writeFile(rawFile, base);
    const rawPutDir = join(WORK, 'raw-put');
    await mkdir(rawPutDir, { recursive: true });
    await start('raw-get', () => startRaw('raw-get', 'get-server.ts', rawFile), baselines.get);
    await start('raw-put', () => startRaw('raw-put', 'put-server.ts', rawPutDir), baselines.put);
    if (wanted('pull'))
      await start('memory-get', () => startRaw('memory-get', 'memory-server.ts', rawFile), ceilings);
    if (s3 && buckets) {
      // One server is both S3 baselines: a multipart PUT and a streamed GetObject.
      await start(
        'raw-s3',
        async () => {
          const bucket = await buckets.create('raw');
          rawBucket = bucket;
          const target = await startRaw('raw-s3', 's3-server.ts', bucket, buckets.rawDiscarder(bucket));
          baselines.get.push(target);
          return target;
        },
        baselines.put,
      );
    }
    const rawTargets = [...new Set([...baselines.get, ...baselines.put, ...ceilings])];
    console.log(`targets: ${[...registries, ...rawTargets].map((t) => t.name).join(', ')}\n`);

    // 1. Monolithic push and pull of a large random blob.
    await measureAll('push', 'MiB/s', [...registries, ...baselines.put], (target, rep) =>
      baselines.put.includes(target) ? scenarioRawPut(target, base, rep) : scenarioPush(target, base, rep),
    );
    if (wanted('pull')) {
      const pullable = variant(base, 999_999);
      for (const target of registries) await pushMonolithic(target.url, 'bench/pull', pullable);
      const rawDigest = sha256(base);
      // The S3 baseline serves what it stored; raw-get serves its file.
      for (const target of baselines.get.filter((t) => baselines.put.includes(t)))
        await pushRaw(target.url, { bytes: base, digest: rawDigest });
      // The S3 ceiling reads what the S3 baseline stored, straight from the bucket.
      let bucketPath = '';
      if (buckets && rawBucket) {
        try {
          const { target, path } = await buckets.bucketTarget(rawBucket, rawDigest);
          ceilings.push(target);
          bucketPath = path;
        } catch (error) {
          console.log(`  (bucket-get unavailable: ${(error as Error).message.split('\n')[0]})`);
        }
      }
      await measureAll('pull', 'MiB/s', [...registries, ...baselines.get, ...ceilings], (target) =>
        target.name === 'raw-get' || target.name === 'memory-get'
          ? scenarioPull(target, '/blob', rawDigest)
          : target.name === 'bucket-get'
            ? scenarioPull(target, bucketPath, rawDigest)
            : baselines.get.includes(target)
              ? scenarioPull(target, `/blob/${rawDigest.slice('sha256:'.length)}`, rawDigest)
              : scenarioPull(target, `/v2/bench/pull/blobs/${pullable.digest}`, pullable.digest),
      );
    }

    // 2. Chunked pushes: one PATCH (docker), and 8 MiB PATCHes.
    await measureAll('patch-single', 'MiB/s', registries, (target, rep) =>
      scenarioChunked(target, base, rep, 'single'),
    );
    await measureAll('patch-8m', 'MiB/s', registries, (target, rep) =>
      scenarioChunked(target, base, rep, 8 * MiB),
    );

    // 3. Many small blobs.
    await measureAll('small', 'blobs/s', registries, (target, rep) =>
      scenarioSmall(target, SMALL_COUNT, 4096, 16, rep),
    );

    // 4. HEAD blob and GET manifest by tag under load.
    if (wanted('head') || wanted('manifest')) {
      const seeds = new Map<string, Awaited<ReturnType<typeof seedImage>>>();
      for (const target of registries) seeds.set(target.name, await seedImage(target));
      await measureAll('head', 'req/s', registries, (target) =>
        scenarioLoad(target, 'HEAD', seeds.get(target.name)!.blobPath, LOAD_SECONDS, 32),
      );
      await measureAll('manifest', 'req/s', registries, (target) =>
        scenarioLoad(target, 'GET', seeds.get(target.name)!.manifestPath, LOAD_SECONDS, 32),
      );
    }

    // 5. 16 concurrent chunked pushes of the same blob.
    if (wanted('same-blob')) {
      const same = randomBytes(SAME);
      await measureAll('same-blob', 'MiB/s', registries, (target, rep) =>
        scenarioSameBlob(target, same, rep, 16),
      );
    }

    // 6. Peak RSS growth during a 1 GiB push.
    if (wanted('rss')) {
      const huge = randomBytes(HUGE);
      await measureAll('rss', 'MiB', registries, (target, rep) => scenarioRss(target, huge, rep));
    }

    // 7. Push throughput with one event endpoint against the same without (bench/events.ts).
    if (wanted('events')) {
      // Its servers create files fast; a large removal in the last minutes would tax that (lib/settle.ts).
      const waited = await settleRemovals(WORK_REMOVED);
      if (waited > 0) console.log(`  (waited ${(waited / 1000).toFixed(0)} s for removed files to age out)`);
      const events = await benchEvents(WORK, { quick, reps });
      for (const [scenario, byVariant] of events.samples)
        for (const [name, list] of byVariant)
          record(scenario, name, scenario === 'events-push' ? 'MiB/s' : 'req/s', list);
      extraChecks.push(...events.checks);
    }

    // 8. Pulls through the pull-through cache, cold and warm, against its upstream (bench/proxy.ts).
    if (wanted('proxy')) extraChecks.push(...(await benchProxy({ size: BIG, reps, record })));
  } finally {
    for (const target of stoppers) await target.stop();
    await buckets?.removeAll();
  }
  await report(
    [
      ...registries.map((t) => t.name),
      ...(results.has('events-push') ? ['wharf-fs+endpoint'] : []),
      ...(results.has('proxy-cold') ? ['wharf-proxy', 'proxy-pass'] : []),
    ],
    [...new Set([...baselines.put, ...baselines.get, ...ceilings])].map((t) => t.name),
  );
  await removeWork(WORK, WORK_REMOVED);
  await send('http://127.0.0.1:1', 'GET', '/').catch(() => {}); // release keep-alive agent state
}

/** Ratios the issues set goals for (`lib/goals.ts`), then those the scenario modules computed. */
function checks(names: string[]): GoalCheck[] {
  return [
    ...goalChecks(names, (scenario, target) => results.get(scenario)?.get(target)?.value),
    ...extraChecks,
  ];
}

async function report(names: string[], raw: string[]): Promise<void> {
  const columns = [...names, ...raw];
  const lines: string[] = [];
  lines.push(
    `# wharf benchmark`,
    '',
    `${new Date().toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · node ${process.version} · repetitions: ${reps}${quick ? ' (quick)' : ''}`,
    '',
  );
  lines.push(
    `| scenario | unit | ${columns.join(' | ')} |`,
    `|---|---|${columns.map(() => '---:').join('|')}|`,
  );
  for (const [scenario, byTarget] of results) {
    const unit = [...byTarget.values()][0]?.unit ?? '';
    const cells = columns.map((c) => {
      const r = byTarget.get(c);
      if (!r) return '';
      const extra =
        r.extra.p99ms !== undefined
          ? ` (p50 ${r.extra.p50ms?.toFixed(2)} / p99 ${r.extra.p99ms.toFixed(2)} ms)`
          : r.extra.failures
            ? ` (${r.extra.failures} failed)`
            : '';
      return `${r.value.toFixed(1)}${extra} · cpu ${r.cpu.toFixed(2)}s`;
    });
    lines.push(`| ${scenario} | ${unit} | ${cells.join(' | ')} |`);
  }
  lines.push('', '| target | measured | goal | met |', '|---|---:|---:|:---:|');
  for (const check of checks(names)) {
    const met = check.lowerIsBetter ? check.ratio < check.goal : check.ratio >= check.goal;
    const shown = check.lowerIsBetter ? check.ratio.toFixed(1) : `${check.ratio.toFixed(2)}×`;
    const goal = check.lowerIsBetter ? `< ${check.goal}` : `≥ ${check.goal}×`;
    lines.push(`| ${check.label} | ${shown} | ${goal} | ${met ? 'yes' : 'no'} |`);
  }
  const markdown = `${lines.join('\n')}\n`;
  console.log(`\n${markdown}`);
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    quick,
    reps,
    results: Object.fromEntries([...results].map(([s, m]) => [s, Object.fromEntries(m)])),
    checks: checks(names),
  };
  await writeFile(join(dir, quick ? 'quick.json' : 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(dir, quick ? 'quick.md' : 'latest.md'), markdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
