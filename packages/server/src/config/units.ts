import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/g;

/**
 * Parses a duration the way distribution's configuration writes them (Go's `time.Duration`:
 * `300ms`, `10s`, `1h30m`, `168h`), plus `d` for days; `0` alone is zero. Returns milliseconds, or
 * undefined when the text is not a duration.
 */
export function parseDuration(text: string | number): number | undefined {
  if (text === 0 || text === '0') return 0;
  if (typeof text !== 'string') return undefined;
  const compact = text.trim();
  if (!DURATION.test(compact)) return undefined;
  let total = 0;
  for (const [, amount, unit] of compact.matchAll(DURATION_PART))
    total += Number(amount) * DURATION_UNITS[unit!]!;
  return total;
}

/** A duration setting (`90s`, `15m`, `1h30m`, `7d`). */
export const duration = () =>
  z
    .union([z.string(), z.number()])
    .refine((value) => parseDuration(value) !== undefined, {
      message: 'must be a duration with a unit, such as 500ms, 90s, 15m, 1h30m or 7d',
    })
    .meta({ typeLabel: 'duration' });

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parses a byte size: a number of bytes, or `512KiB`, `64MiB`, `5MB`, `2GiB`. */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return undefined;
  const factor = match[2] ? BYTE_UNITS[match[2].toLowerCase()] : 1;
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A size in the largest binary unit that divides it exactly, for messages: `5MiB`, `1536`. */
function formatBytes(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const factor = BYTE_UNITS[unit.toLowerCase()]!;
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/**
 * A size setting: bytes, or `64MiB`, `5MB`; within `range` when given, so that `config check`
 * names the setting when a size is out of bounds (rather than the library option it feeds).
 */
export const byteSize = (range: { readonly min?: number; readonly max?: number } = {}) =>
  z
    .union([z.string(), z.number()])
    .refine((value) => parseBytes(value) !== undefined, {
      message: 'must be a size in bytes, such as 1048576, 512KiB, 64MiB or 5MB',
      abort: true,
    })
    .refine((value) => (parseBytes(value) ?? 0) >= (range.min ?? 0), {
      message: `must be at least ${formatBytes(range.min ?? 0)}`,
    })
    .refine((value) => (parseBytes(value) ?? 0) <= (range.max ?? Number.MAX_SAFE_INTEGER), {
      message: `must be at most ${formatBytes(range.max ?? Number.MAX_SAFE_INTEGER)}`,
    })
    .meta({ typeLabel: 'size' });
