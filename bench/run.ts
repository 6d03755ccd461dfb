/**
 * `pnpm bench`: one benchmark session, wharf side by side with CNCF distribution (Debian's
 * docker-registry) and raw node:http baselines, all measured in the same run so that ratios hold
 * on a noisy machine. Prints a table and writes bench/results/latest.{json,md}.
 *
 * Flags: --quick (small sizes, one repetition), --only=<scenario,...>, --targets=<name,...>,
 * --reps=<n>, --memory (also measure wharf on memory storage).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchEvents } from './events.js';
import { send } from './lib/http.js';
import { removeBucket, s3Discarder } from './lib/s3.js';
import {
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
import { MiB, median } from './lib/stats.js';
import {
  hasDistribution,
  ROOT,
  startDistribution,
  startRaw,
  startWharf,
  type Target,
  WORK,
} from './lib/targets.js';

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
    `  ${scenario.padEnd(14)} ${target.padEnd(14)} ${result.value.toFixed(1).padStart(9)} ${unit.padEnd(7)} cpu ${result.cpu.toFixed(2)}s ${detail}`,
  );
}

function wanted(scenario: string): boolean {
  return !only || only.includes(scenario);
}

async function main(): Promise<void> {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  console.log(
    `wharf bench: ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, reps ${reps}${quick ? ' (quick)' : ''}`,
  );

  const registries: Target[] = [];
  const stoppers: Target[] = [];
  const want = (name: string) => !onlyTargets || onlyTargets.includes(name);
  let bucket: string | undefined;
  let s3: ReturnType<typeof s3Discarder> | undefined;
  try {
    if (want('wharf-fs')) {
      try {
        registries.push(
          await startWharf('wharf-fs', { WHARF_STORAGE: 'fs', WHARF_ROOT: join(WORK, 'wharf-fs') }),
        );
      } catch (error) {
        console.log(`  (wharf-fs unavailable: ${(error as Error).message.split('\n')[0]})`);
      }
    }
    if (want('wharf-s3') && process.env.S3_ENDPOINT) {
      bucket = `wharf-bench-${Date.now()}`;
      s3 = s3Discarder(bucket);
      registries.push(
        await startWharf('wharf-s3', { WHARF_STORAGE: 's3', S3_BUCKET: bucket, S3_PREFIX: '' }, s3.discard),
      );
    }
    if (want('wharf-memory') && (args.has('memory') || registries.length === 0)) {
      registries.push(await startWharf('wharf-memory', { WHARF_STORAGE: 'memory' }));
    }
    if (want('distribution') && hasDistribution())
      registries.push(await startDistribution(join(WORK, 'distribution', 'root')));
    stoppers.push(...registries);

    const base = randomBytes(BIG);
    const rawFile = join(WORK, 'raw-get.bin');
    await writeFile(rawFile, base);
    const rawGet = await startRaw('raw-get', 'get-server.ts', rawFile);
    const rawPutDir = join(WORK, 'raw-put');
    await mkdir(rawPutDir, { recursive: true });
    const rawPut = await startRaw('raw-put', 'put-server.ts', rawPutDir);
    stoppers.push(rawGet, rawPut);
    console.log(`targets: ${registries.map((t) => t.name).join(', ')}, raw-get, raw-put\n`);

    // 1. Monolithic push and pull of a large random blob.
    if (wanted('push')) {
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of [...registries, rawPut]) {
          const sample =
            target === rawPut
              ? await scenarioRawPut(target, base, rep)
              : await scenarioPush(target, base, rep);
          samples.set(target.name, [...(samples.get(target.name) ?? []), sample]);
        }
      }
      for (const [name, list] of samples) record('push', name, 'MiB/s', list);
    }
    if (wanted('pull')) {
      const pullable = variant(base, 999_999);
      for (const target of registries) {
        const { pushMonolithic } = await import('./lib/scenarios.js');
        await pushMonolithic(target.url, 'bench/pull', pullable);
      }
      const rawDigest = (await import('./lib/http.js')).sha256(base);
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of [...registries, rawGet]) {
          const sample =
            target === rawGet
              ? await scenarioPull(target, '/blob', rawDigest)
              : await scenarioPull(target, `/v2/bench/pull/blobs/${pullable.digest}`, pullable.digest);
          samples.set(target.name, [...(samples.get(target.name) ?? []), sample]);
        }
      }
      for (const [name, list] of samples) record('pull', name, 'MiB/s', list);
    }

    // 2. Chunked pushes: one PATCH (docker), and 8 MiB PATCHes.
    for (const [scenario, chunk] of [
      ['patch-single', 'single'],
      ['patch-8m', 8 * MiB],
    ] as const) {
      if (!wanted(scenario)) continue;
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of registries) {
          samples.set(target.name, [
            ...(samples.get(target.name) ?? []),
            await scenarioChunked(target, base, rep, chunk),
          ]);
        }
      }
      for (const [name, list] of samples) record(scenario, name, 'MiB/s', list);
    }

    // 3. Many small blobs.
    if (wanted('small')) {
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of registries) {
          samples.set(target.name, [
            ...(samples.get(target.name) ?? []),
            await scenarioSmall(target, SMALL_COUNT, 4096, 16, rep),
          ]);
        }
      }
      for (const [name, list] of samples) record('small', name, 'blobs/s', list);
    }

    // 4. HEAD blob and GET manifest by tag under load.
    if (wanted('head') || wanted('manifest')) {
      const seeds = new Map<string, Awaited<ReturnType<typeof seedImage>>>();
      for (const target of registries) seeds.set(target.name, await seedImage(target));
      for (const [scenario, method] of [
        ['head', 'HEAD'],
        ['manifest', 'GET'],
      ] as const) {
        if (!wanted(scenario)) continue;
        const samples = new Map<string, Sample[]>();
        for (let rep = 0; rep < reps; rep++) {
          for (const target of registries) {
            const seed = seeds.get(target.name)!;
            const path = scenario === 'head' ? seed.blobPath : seed.manifestPath;
            const sample = await scenarioLoad(target, method, path, LOAD_SECONDS, 32);
            samples.set(target.name, [...(samples.get(target.name) ?? []), sample]);
          }
        }
        for (const [name, list] of samples) record(scenario, name, 'req/s', list);
      }
    }

    // 5. 16 concurrent chunked pushes of the same blob.
    if (wanted('same-blob')) {
      const same = randomBytes(SAME);
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of registries) {
          samples.set(target.name, [
            ...(samples.get(target.name) ?? []),
            await scenarioSameBlob(target, same, rep, 16),
          ]);
        }
      }
      for (const [name, list] of samples) record('same-blob', name, 'MiB/s', list);
    }

    // 6. Peak RSS growth during a 1 GiB push.
    if (wanted('rss')) {
      const huge = randomBytes(HUGE);
      const samples = new Map<string, Sample[]>();
      for (let rep = 0; rep < reps; rep++) {
        for (const target of registries) {
          samples.set(target.name, [
            ...(samples.get(target.name) ?? []),
            await scenarioRss(target, huge, rep),
          ]);
        }
      }
      for (const [name, list] of samples) record('rss', name, 'MiB', list);
    }

    // 7. Push throughput with one event endpoint against the same without (bench/events.ts).
    if (wanted('events')) {
      for (const [scenario, byVariant] of await benchEvents(WORK, { quick, reps }))
        for (const [name, list] of byVariant)
          record(scenario, name, scenario === 'events-push' ? 'MiB/s' : 'req/s', list);
    }
  } finally {
    for (const target of stoppers) await target.stop();
    // The S3 bucket goes too: a test cluster keeps data in memory and fills up otherwise.
    if (bucket) await removeBucket(bucket);
    s3?.close();
  }
  await report([
    ...registries.map((t) => t.name),
    ...(results.has('events-push') ? ['wharf-fs+endpoint'] : []),
  ]);
  await rm(WORK, { recursive: true, force: true });
  await send('http://127.0.0.1:1', 'GET', '/').catch(() => {}); // release keep-alive agent state
}

/** Ratios the issue sets targets for: [scenario, numerator target, denominator target or scenario, goal]. */
function checks(
  names: string[],
): Array<{ label: string; ratio: number; goal: number; lowerIsBetter?: boolean }> {
  const get = (scenario: string, target: string) => results.get(scenario)?.get(target)?.value;
  const out: Array<{ label: string; ratio: number; goal: number; lowerIsBetter?: boolean }> = [];
  for (const wharf of names.filter((n) => n.startsWith('wharf'))) {
    const add = (label: string, a: number | undefined, b: number | undefined, goal: number) => {
      if (a !== undefined && b !== undefined && b > 0)
        out.push({ label: `${wharf}: ${label}`, ratio: a / b, goal });
    };
    add('push / distribution', get('push', wharf), get('push', 'distribution'), 1.5);
    add('push / raw PUT', get('push', wharf), get('push', 'raw-put'), 0.9);
    add('pull / distribution', get('pull', wharf), get('pull', 'distribution'), 1.2);
    add('pull / raw GET', get('pull', wharf), get('pull', 'raw-get'), 0.9);
    add('single-PATCH push / monolithic push', get('patch-single', wharf), get('push', wharf), 0.9);
    add('8 MiB PATCHes / distribution', get('patch-8m', wharf), get('patch-8m', 'distribution'), 1.5);
    add('HEAD blob / distribution', get('head', wharf), get('head', 'distribution'), 5);
    add('GET manifest / distribution', get('manifest', wharf), get('manifest', 'distribution'), 5);
    add('small blobs / distribution', get('small', wharf), get('small', 'distribution'), 3);
    add(
      'push with an event endpoint / without',
      get('events-push', `${wharf}+endpoint`),
      get('events-push', wharf),
      0.95,
    );
    add(
      'small pushes with an event endpoint / without',
      get('events-small', `${wharf}+endpoint`),
      get('events-small', wharf),
      0.95,
    );
    const rss = get('rss', wharf);
    if (rss !== undefined)
      out.push({
        label: `${wharf}: RSS growth, 1 GiB push (MiB)`,
        ratio: rss,
        goal: 64,
        lowerIsBetter: true,
      });
  }
  return out;
}

async function report(names: string[]): Promise<void> {
  const columns = [...names, 'raw-put', 'raw-get'];
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
