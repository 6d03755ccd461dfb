import { format } from 'node:util';

/** Structured fields of a log line. An error goes under `err` (pino's and bunyan's convention). */
export type LogFields = Record<string, unknown>;

/**
 * A structured logger, fields first: the call shape of pino and bunyan, so their loggers are passed
 * as they are (`createRegistry({ logger: pino() })`). For `console` or anything taking
 * `(message, ...rest)`, wrap it with {@link consoleLogger}.
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

/** The levels of a {@link Logger}, least severe first. */
export type LogLevel = keyof Logger;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Something with console's methods. */
export type ConsoleLike = Pick<Console, LogLevel>;

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /** Where lines go. Default: the global `console`. */
  console?: ConsoleLike;
  /** The least severe level written; `'silent'` writes nothing. Default `'info'`. */
  level?: LogLevel | 'silent';
}

/**
 * A {@link Logger} over `console` (or anything with its methods): one line per call, the message
 * followed by the fields as `key=value` pairs; an `err` field is printed with its stack after the
 * line.
 *
 * @example
 * ```ts
 * import { consoleLogger, createRegistry } from '@wharf/core';
 *
 * const registry = createRegistry({ logger: consoleLogger({ level: 'warn' }) });
 * ```
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const target = options.console ?? console;
  const threshold = options.level === 'silent' ? LEVELS.length : LEVELS.indexOf(options.level ?? 'info');
  const method =
    (level: LogLevel) =>
    (fields: LogFields, message: string): void => {
      if (LEVELS.indexOf(level) < threshold) return;
      const { err, ...rest } = fields;
      const pairs = Object.entries(rest)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : format('%j', value)}`);
      const line = [message, ...pairs].join(' ');
      if (err === undefined) target[level](line);
      else target[level](line, err);
    };
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

const noop = (): void => {};

/**
 * The logger core uses: the host's methods where given (a missing one is silent), and without a
 * logger at all, errors to stderr so that a 500 never leaves no trace.
 */
export function resolveLogger(logger: Partial<Logger> | undefined): Logger {
  if (logger === undefined) return consoleLogger({ level: 'error' });
  const bound = (level: LogLevel) => logger[level]?.bind(logger) ?? noop;
  return { debug: bound('debug'), info: bound('info'), warn: bound('warn'), error: bound('error') };
}
