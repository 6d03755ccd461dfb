import { format } from 'node:util';
import { type Logger as PinoLogger, pino } from 'pino';
import type { Settings } from './config/settings.js';

/** The server's logger: pino, fields first (what `createRegistry({ logger })` takes as is). */
export type ServerLogger = PinoLogger;

/** Where log lines go. */
export interface LogOutput {
  write(line: string): unknown;
  readonly isTTY?: boolean;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Renders one pino JSON line as `time LEVEL message key=value…` (an `err` stack follows it). */
export function formatText(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg, err, ...fields } = record;
  const label =
    typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : String(level).toUpperCase();
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'string' && !/[\s"=]/.test(value) ? value : format('%j', value)}`,
    );
  let text = `${String(time)} ${label.padEnd(5)} ${String(msg ?? '')}${pairs.length ? ` ${pairs.join(' ')}` : ''}\n`;
  const stack = (err as { stack?: unknown } | undefined)?.stack;
  if (typeof stack === 'string') text += `${stack.replace(/^/gm, '    ')}\n`;
  return text;
}

/**
 * The server's logger: JSON lines (pino) with `log.formatter: json` or when the output is not a
 * terminal, readable text otherwise. `log.fields` are on every line.
 */
export function createLogger(settings: Settings['log'], output: LogOutput = process.stdout): ServerLogger {
  const format = settings.format ?? (output.isTTY ? 'text' : 'json');
  const destination =
    format === 'text' ? { write: (line: string) => output.write(formatText(line)) } : output;
  return pino(
    {
      level: settings.level,
      base: { ...settings.fields },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
