import type { GcOptions, GcProgress, GcReport, Logger, Registry } from '@wharf/core';
import { parseDuration } from './config/units.js';

/** Garbage collection settings shared by the periodic collector and the `gc` command. */
export interface GcSettings {
  readonly gracePeriod: number;
  readonly deleteUntagged: boolean;
  /** Upload sessions idle longer than this are removed. */
  readonly uploadMaxAge: number;
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

/** A recurring collection. */
export interface PeriodicGc {
  readonly kind: 'gc' | 'uploadpurge';
  readonly interval: number;
  readonly options: GcOptions;
}

/**
 * Runs each job every `interval`, never two collections at once; failures are logged and the
 * schedule continues. Returns a function that stops it (aborting and awaiting a running one).
 */
export function schedulePeriodicGc(
  registry: Registry,
  jobs: readonly PeriodicGc[],
  logger: Logger,
  onFinished: (kind: PeriodicGc['kind'], report: GcReport | undefined) => void,
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const controller = new AbortController();
  const timers = jobs.map((job) => {
    const timer = setInterval(() => {
      running = running.then(async () => {
        if (controller.signal.aborted) return;
        try {
          const report = await registry.gc({ ...job.options, signal: controller.signal });
          onFinished(job.kind, report);
          logger.info({ kind: job.kind, bytesReclaimed: report.bytesReclaimed }, summarize(report));
        } catch (err) {
          if (controller.signal.aborted) return;
          onFinished(job.kind, undefined);
          logger.error({ err, kind: job.kind }, 'gc failed');
        }
      });
    }, job.interval);
    timer.unref();
    return timer;
  });
  return async () => {
    for (const timer of timers) clearInterval(timer);
    controller.abort();
    await running;
  };
}

const USAGE = `usage: wharf gc [config.yml] [--dry-run] [--grace=<duration>] [--delete-untagged] [--upload-max-age=<duration>]
  durations: 500ms, 90s, 15m, 1h, 7d (defaults: wharf.gc.graceperiod, storage.maintenance.uploadpurging.age)`;

/** Splits `gc` arguments into options and the configuration file. */
export function parseGcArguments(
  argv: readonly string[],
  defaults: GcSettings,
): { options: GcOptions & { dryRun: boolean }; help: boolean } | { error: string } {
  const options: { -readonly [K in keyof GcOptions]: GcOptions[K] } & { dryRun: boolean } = {
    gracePeriod: defaults.gracePeriod,
    deleteUntagged: defaults.deleteUntagged,
    uploadMaxAge: defaults.uploadMaxAge,
    dryRun: false,
  };
  for (const arg of argv) {
    const [flag, value] = arg.split('=', 2) as [string, string | undefined];
    const duration = () => {
      const ms = value === undefined ? undefined : parseDuration(value);
      if (ms === undefined)
        throw new Error(`${flag}: not a duration: ${JSON.stringify(value ?? '')} (try 90s, 15m, 1h, 2d)`);
      return ms;
    };
    try {
      if (flag === '--dry-run') options.dryRun = true;
      else if (flag === '--delete-untagged') options.deleteUntagged = true;
      else if (flag === '--grace') options.gracePeriod = duration();
      else if (flag === '--upload-max-age') options.uploadMaxAge = duration();
      else if (flag === '--help' || flag === '-h') return { options, help: true };
      else throw new Error(`unknown option ${arg}`);
    } catch (error) {
      return { error: (error as Error).message };
    }
  }
  return { options, help: false };
}

/** Output streams of the `gc` command. */
export interface CommandOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Usage of `wharf gc`. */
export const GC_USAGE = USAGE;

/**
 * The `gc` command: one collection with a progress display on stderr and a summary on stdout.
 * Resolves the process exit code.
 */
export async function runGcCommand(
  registry: Registry,
  options: GcOptions,
  out: CommandOutput,
): Promise<number> {
  const tty = Boolean(out.stderr.isTTY);
  let phase = '';
  const report = await registry.gc({
    ...options,
    onProgress: (p: GcProgress) => {
      const line = `${p.phase}${p.total === undefined ? ` ${p.done}` : ` ${p.done}/${p.total}`}`;
      if (tty) out.stderr.write(`\r\x1b[K${line}`);
      else if (p.phase !== phase) out.stderr.write(`${p.phase}\n`);
      phase = p.phase;
    },
  });
  if (tty) out.stderr.write('\r\x1b[K');
  out.stdout.write(`${summarize(report)}\n`);
  return 0;
}
