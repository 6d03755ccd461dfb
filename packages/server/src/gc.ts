import type { GcOptions, GcProgress, GcReport, Registry } from '@wharf/core';

/** Garbage collection settings shared by the periodic collector and the `gc` command. */
export interface GcSettings {
  /** Milliseconds between periodic collections; undefined disables them. */
  readonly interval: number | undefined;
  readonly gracePeriod: number;
  readonly deleteUntagged: boolean;
  readonly uploadMaxAge: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `90s`, `15m`, `1h`, `2d` (or a plain number of milliseconds). */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new Error(`not a duration: ${JSON.stringify(text)} (try 90s, 15m, 1h, 2d)`);
  return Number(match[1]) * UNITS[match[2] ?? 'ms']!;
}

/** Reads `WHARF_GC_INTERVAL`, `WHARF_GC_GRACE`, `WHARF_GC_DELETE_UNTAGGED`, `WHARF_UPLOAD_MAX_AGE`. */
export function readGcSettings(env: NodeJS.ProcessEnv = process.env): GcSettings {
  return {
    interval: env.WHARF_GC_INTERVAL ? parseDuration(env.WHARF_GC_INTERVAL) : undefined,
    gracePeriod: parseDuration(env.WHARF_GC_GRACE ?? '1h'),
    deleteUntagged: /^(1|true|yes|on)$/i.test(env.WHARF_GC_DELETE_UNTAGGED ?? ''),
    uploadMaxAge: parseDuration(env.WHARF_UPLOAD_MAX_AGE ?? '24h'),
  };
}

/** One line summing up a collection. */
export function summarize(report: GcReport): string {
  const { deleted, kept } = report;
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const seconds = ((report.finishedAt.getTime() - report.startedAt.getTime()) / 1000).toFixed(1);
  return (
    `gc ${verb} ${deleted.blobs.length} blobs, ${deleted.links.length} links, ${deleted.manifests.length} manifests, ` +
    `${deleted.uploads.length} uploads (${formatBytes(report.bytesReclaimed)}); kept ${kept.blobs} blobs, ` +
    `${kept.manifests} manifests in ${report.repositories} repositories (${seconds}s)`
  );
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * Runs collections every `interval`, never two at once; failures are logged and the schedule
 * continues. Returns a function that stops it (waiting for a running collection).
 */
export function schedulePeriodicGc(
  registry: Registry,
  settings: GcSettings,
  log: (line: string) => void,
): () => Promise<void> {
  if (settings.interval === undefined) return async () => {};
  let running: Promise<unknown> = Promise.resolve();
  const controller = new AbortController();
  const timer = setInterval(() => {
    running = running.then(async () => {
      if (controller.signal.aborted) return;
      try {
        log(summarize(await registry.gc({ ...optionsOf(settings), signal: controller.signal })));
      } catch (error) {
        if (!controller.signal.aborted) log(`gc failed: ${(error as Error).message}`);
      }
    });
  }, settings.interval);
  timer.unref();
  return async () => {
    clearInterval(timer);
    controller.abort();
    await running;
  };
}

function optionsOf(settings: GcSettings): GcOptions {
  return {
    gracePeriod: settings.gracePeriod,
    deleteUntagged: settings.deleteUntagged,
    uploadMaxAge: settings.uploadMaxAge,
  };
}

const USAGE = `usage: wharf gc [--dry-run] [--grace=<duration>] [--delete-untagged] [--upload-max-age=<duration>]
  durations: 250ms, 90s, 15m, 1h, 2d (defaults: grace 1h, upload max age 24h)`;

/**
 * The `gc` command: one collection with a progress display on stderr and a summary on stdout.
 * Resolves the process exit code.
 */
export async function runGcCommand(
  registry: Registry,
  argv: readonly string[],
  defaults: GcSettings,
  out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream & { isTTY?: boolean } },
): Promise<number> {
  const options: { -readonly [K in keyof GcOptions]: GcOptions[K] } = optionsOf(defaults);
  for (const arg of argv) {
    const [flag, value] = arg.split('=', 2) as [string, string | undefined];
    try {
      if (flag === '--dry-run') options.dryRun = true;
      else if (flag === '--delete-untagged') options.deleteUntagged = true;
      else if (flag === '--grace' && value) options.gracePeriod = parseDuration(value);
      else if (flag === '--upload-max-age' && value) options.uploadMaxAge = parseDuration(value);
      else if (flag === '--help') {
        out.stdout.write(`${USAGE}\n`);
        return 0;
      } else throw new Error(`unknown option ${arg}`);
    } catch (error) {
      out.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
      return 2;
    }
  }
  const tty = Boolean(out.stderr.isTTY);
  let phase = '';
  options.onProgress = (p: GcProgress) => {
    const line = `${p.phase}${p.total === undefined ? ` ${p.done}` : ` ${p.done}/${p.total}`}`;
    if (tty) out.stderr.write(`\r\x1b[K${line}`);
    else if (p.phase !== phase) out.stderr.write(`${p.phase}\n`);
    phase = p.phase;
  };
  const report = await registry.gc(options);
  if (tty) out.stderr.write('\r\x1b[K');
  out.stdout.write(`${summarize(report)}\n`);
  return 0;
}
