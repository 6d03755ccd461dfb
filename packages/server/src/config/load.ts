import { readFile } from 'node:fs/promises';
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { UNSUPPORTED_KEYS } from './distribution.js';
import {
  applyLegacyVariables,
  applyRegistryVariables,
  type EnvOrigins,
  type EnvProblem,
  STORAGE_SETTINGS,
} from './env.js';
import { isStringSetting } from './introspect.js';
import { deletePath, getPath, hasPath, isObject, type RawObject, setPath } from './paths.js';
import { type Config, configSchema } from './schema.js';
import { resolveSettings, type Settings } from './settings.js';

/** One thing wrong (or worth knowing) about the configuration. */
export interface Problem {
  readonly severity: 'error' | 'warning' | 'notice';
  /** The key, dotted (`storage.s3.bucket`); empty for the whole file. */
  readonly path: string;
  readonly message: string;
  /** Where it came from: `config.yml:3:5`, or `env REGISTRY_HTTP_ADDR`. */
  readonly source: string | undefined;
}

/** The result of {@link loadConfig}. */
export interface LoadedConfig {
  /** Present when there is no error. */
  readonly settings: Settings | undefined;
  /** The validated configuration (for printing), when there is no error. */
  readonly config: Config | undefined;
  readonly problems: readonly Problem[];
  /** Variables that changed the configuration, by path. */
  readonly origins: EnvOrigins;
}

/** Options of {@link loadConfig}. */
export interface LoadOptions {
  /** The configuration file; none: defaults and the environment only. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

/** Finds the source position of `path` (or of its deepest existing ancestor) in the file. */
function locator(file: string, doc: Document | undefined, lines: LineCounter, origins: EnvOrigins) {
  return (path: readonly (string | number)[], value = false): string | undefined => {
    for (let i = path.length; i > 0; i--) {
      const origin = origins.get(path.slice(0, i).join('.'));
      if (origin) return `env ${origin}`;
    }
    if (!doc) return undefined;
    let node: unknown = doc.contents;
    let offset = (doc.contents as Node | null)?.range?.[0];
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(key),
        );
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
        if (value && key === path.at(-1)) offset = (node as Node | null)?.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
        node = node.items[key];
        offset = (node as Node).range?.[0] ?? offset;
      } else break;
    }
    if (offset === undefined) return file;
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
}

/** Distribution's shorthand forms (`storage: inmemory`, `auth: silly`, the old `loglevel`). */
function normalize(raw: RawObject): void {
  for (const section of ['storage', 'auth']) {
    if (typeof raw[section] === 'string') raw[section] = { [raw[section] as string]: {} };
  }
  if (isObject(raw.storage) && raw.storage.inmemory === null) raw.storage.inmemory = {};
  if (raw.loglevel !== undefined) {
    if (getPath(raw, ['log', 'level']) === undefined) setPath(raw, ['log', 'level'], raw.loglevel);
    delete raw.loglevel;
  }
  if (typeof getPath(raw, ['log', 'level']) === 'string') {
    setPath(raw, ['log', 'level'], (getPath(raw, ['log', 'level']) as string).toLowerCase());
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'required';
  return issue.message;
}

/**
 * Reads the configuration: the YAML file (if any), then the legacy variables, then `REGISTRY_*`
 * variables; reports distribution keys wharf does not implement; validates; resolves.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const problems: Problem[] = [];
  const origins: EnvOrigins = new Map();
  const lines = new LineCounter();
  const file = options.file;
  let raw: RawObject = {};
  let doc: Document | undefined;
  const fail = (): LoadedConfig => {
    sortProblems(problems);
    return { settings: undefined, config: undefined, problems, origins };
  };

  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : (error as Error).message;
      problems.push({
        severity: 'error',
        path: '',
        message: `cannot read the configuration file: ${reason}`,
        source: file,
      });
      return fail();
    }
    // YAML 1.1, as distribution reads it (`yes`/`no` are booleans).
    doc = parseDocument(text, { version: '1.1', lineCounter: lines, prettyErrors: false });
    for (const error of doc.errors) {
      const { line, col } = lines.linePos(error.pos[0]);
      problems.push({
        severity: 'error',
        path: '',
        message: error.message.split('\n')[0]!,
        source: `${file}:${line}:${col}`,
      });
    }
    if (doc.errors.length > 0) return fail();
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined && !isObject(value)) {
      problems.push({
        severity: 'error',
        path: '',
        message: 'the configuration must be a mapping of keys',
        source: file,
      });
      return fail();
    }
    raw = (value as RawObject | null) ?? {};
  }
  normalize(raw);

  const envProblems: EnvProblem[] = [];
  applyLegacyVariables(raw, env, origins, envProblems);
  applyRegistryVariables(raw, env, origins, (path) => isStringSetting(configSchema, path), envProblems);
  normalize(raw);
  for (const { variable, message, severity } of envProblems) {
    problems.push({ severity: severity ?? 'error', path: '', message, source: `env ${variable}` });
  }
  // Without a storage driver the server stores into ./data.
  if (!isObject(raw.storage) || Object.keys(raw.storage).every((key) => STORAGE_SETTINGS.has(key))) {
    setPath(raw, ['storage', 'filesystem', 'rootdirectory'], './data');
  }
  const locate = locator(file ?? 'configuration', doc, lines, origins);
  for (const key of UNSUPPORTED_KEYS) {
    const path = key.path.split('.');
    if (!hasPath(raw, path)) continue;
    problems.push({ severity: key.severity, path: key.path, message: key.reason, source: locate(path) });
    deletePath(raw, path);
  }

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key));
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const at = [...path, key];
          problems.push({
            severity: 'error',
            path: at.join('.'),
            message: 'unknown key',
            source: locate(at),
          });
        }
        continue;
      }
      problems.push({
        severity: 'error',
        path: path.join('.'),
        message: describeIssue(issue),
        // At the value, unless it is missing.
        source: locate(path, issue.code !== 'invalid_type' || issue.input !== undefined),
      });
    }
  }
  if (!parsed.success || problems.some((p) => p.severity === 'error')) return fail();

  const resolved = resolveSettings(parsed.data);
  for (const problem of resolved.problems) {
    problems.push({ severity: 'error', ...problem, source: locate(problem.path.split('.')) });
  }
  if (!resolved.settings) return fail();
  sortProblems(problems);
  return { settings: resolved.settings, config: parsed.data, problems, origins };
}

/** Orders problems as they appear: environment first, then by line and column in the file. */
function sortProblems(problems: Problem[]): void {
  const rank = (problem: Problem): [number, number] => {
    const match = /:(\d+):(\d+)$/.exec(problem.source ?? '');
    return match ? [Number(match[1]), Number(match[2])] : [0, 0];
  };
  problems.sort((a, b) => {
    const [la, ca] = rank(a);
    const [lb, cb] = rank(b);
    return la - lb || ca - cb;
  });
}

/** `source: path: message`, one line. */
export function formatProblem(problem: Problem): string {
  const where = problem.source ? `${problem.source}: ` : '';
  const key = problem.path ? `${problem.path}: ` : '';
  return `${where}${problem.severity}: ${key}${problem.message}`;
}
