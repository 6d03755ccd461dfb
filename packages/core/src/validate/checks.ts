import { OptionsError } from '../errors.js';

/** What is wrong with a nested option: its path below the checked value, and the problem. */
export interface OptionProblem {
  readonly path: string;
  readonly problem: string;
}

/**
 * Checks one option's value (`undefined` when the option is not given) and returns what is wrong
 * with it, or nothing. Every check in this module accepts `undefined` unless wrapped in
 * {@link required}.
 */
export type OptionCheck = (value: unknown) => string | OptionProblem | undefined;

/**
 * One check per option of `T`. Every option needs an entry, so an option added to an interface
 * without a check does not compile.
 */
export type OptionChecks<T> = { readonly [K in keyof T]-?: OptionCheck };

/** A short description of a value for messages: `0`, `"abc"`, `an object`, `undefined`. */
function shown(value: unknown): string {
  if (value === undefined || value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : `an ${typeof value}`;
}

function problem(text: string, value: unknown): string {
  return `${text} (got ${shown(value)})`;
}

function join(parent: string, child: string): string {
  return child.startsWith('[') ? `${parent}${child}` : `${parent}.${child}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first problem of an options object, or nothing. */
function firstProblem(
  value: unknown,
  checks: Readonly<Record<string, OptionCheck>>,
  exact: boolean,
): OptionProblem | string | undefined {
  if (!isRecord(value)) return problem('must be an object', value);
  if (exact) {
    const unknown = Object.keys(value).find((key) => !Object.hasOwn(checks, key));
    if (unknown !== undefined) {
      return { path: unknown, problem: `is not an option here (known: ${Object.keys(checks).join(', ')})` };
    }
  }
  for (const [key, check] of Object.entries(checks)) {
    const found = check(value[key]);
    if (found === undefined) continue;
    return typeof found === 'string'
      ? { path: key, problem: found }
      : { ...found, path: join(key, found.path) };
  }
  return undefined;
}

/**
 * Validates the options a factory received, where they enter: `options` must be an object, each
 * option must pass its check, and (unless `exact` is false) no other key may be present, which
 * catches misspelt options. Throws an {@link OptionsError} naming the first bad option.
 */
export function validateOptions<T>(
  factory: string,
  options: unknown,
  checks: OptionChecks<T>,
  { exact = true }: { readonly exact?: boolean } = {},
): asserts options is T {
  const found = firstProblem(options, checks as Readonly<Record<string, OptionCheck>>, exact);
  if (found === undefined) return;
  if (typeof found === 'string') throw new OptionsError(factory, 'options', found);
  throw new OptionsError(factory, found.path, found.problem);
}

/**
 * Validates one argument or option a factory received; throws an {@link OptionsError} naming it
 * (or the nested option below it) when `check` finds a problem.
 */
export function validateOption(factory: string, option: string, value: unknown, check: OptionCheck): void {
  const found = check(value);
  if (found === undefined) return;
  if (typeof found === 'string') throw new OptionsError(factory, option, found);
  throw new OptionsError(factory, join(option, found.path), found.problem);
}

/** Checks for common option values; each accepts `undefined` (an option not given). */
export const optionCheck = {
  /** The option must be given; `value` then has to pass `inner`. */
  required:
    (inner: OptionCheck): OptionCheck =>
    (value) =>
      value === undefined ? 'is required' : inner(value),
  /** A function. */
  function: ((value) =>
    value === undefined || typeof value === 'function'
      ? undefined
      : problem('must be a function', value)) as OptionCheck,
  /** `true` or `false`. */
  boolean: ((value) =>
    value === undefined || typeof value === 'boolean'
      ? undefined
      : problem('must be true or false', value)) as OptionCheck,
  /** A string that is not empty. */
  text: ((value) =>
    value === undefined || (typeof value === 'string' && value !== '')
      ? undefined
      : problem('must be a non-empty string', value)) as OptionCheck,
  /** An absolute `http:` or `https:` URL. */
  url: ((value) => {
    if (value === undefined) return undefined;
    const valid =
      typeof value === 'string' && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
    return valid ? undefined : problem('must be an http or https URL', value);
  }) as OptionCheck,
  /** A whole number in `[min, max]`; `Infinity` too when `unbounded`. */
  integer:
    (min: number, max = Number.MAX_SAFE_INTEGER, unbounded = false): OptionCheck =>
    (value) => {
      if (value === undefined || (unbounded && value === Number.POSITIVE_INFINITY)) return undefined;
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) {
        return undefined;
      }
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      return problem(`must be a whole number ${range}${unbounded ? ' (or Infinity)' : ''}`, value);
    },
  /** A finite number of at least `min`. */
  number:
    (min: number): OptionCheck =>
    (value) =>
      value === undefined || (typeof value === 'number' && Number.isFinite(value) && value >= min)
        ? undefined
        : problem(`must be a number ≥ ${min}`, value),
  /** Exactly `expected` (with {@link optionCheck.either}: `false` or an object). */
  literal:
    (expected: unknown): OptionCheck =>
    (value) =>
      value === undefined || value === expected ? undefined : problem(`must be ${shown(expected)}`, value),
  /** An object whose keys pass `checks`; other keys are refused unless `exact` is false. */
  shape:
    (checks: Readonly<Record<string, OptionCheck>>, { exact = true }: { readonly exact?: boolean } = {}) =>
    (value: unknown): string | OptionProblem | undefined =>
      value === undefined ? undefined : firstProblem(value, checks, exact),
  /** An object with these methods (an implementation of an interface, which may have more). */
  methods:
    (names: readonly string[], what: string): OptionCheck =>
    (value) => {
      if (value === undefined) return undefined;
      if (!isRecord(value) && typeof value !== 'function') return problem(`must be ${what}`, value);
      const missing = names.filter((name) => typeof (value as Record<string, unknown>)[name] !== 'function');
      return missing.length === 0 ? undefined : `must be ${what} (missing ${missing.join(', ')})`;
    },
  /** An array whose items pass `item`. */
  array:
    (item: OptionCheck): OptionCheck =>
    (value) => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value)) return problem('must be an array', value);
      for (const [i, entry] of value.entries()) {
        const found = item(entry === undefined ? null : entry);
        if (found !== undefined) {
          return typeof found === 'string'
            ? { path: `[${i}]`, problem: found }
            : { ...found, path: join(`[${i}]`, found.path) };
        }
      }
      return undefined;
    },
  /** Passes when any of `checks` passes; otherwise `description` is the problem. */
  either:
    (description: string, ...checks: OptionCheck[]): OptionCheck =>
    (value) =>
      value === undefined || checks.some((inner) => inner(value) === undefined)
        ? undefined
        : problem(description, value),
};
