import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wharf/test-utils';

/** One ```ts block of a README. */
export interface ReadmeBlock {
  /** The README, relative to the repository root (`README.md`, `packages/core/README.md`). */
  readonly readme: string;
  /** The package folder the README belongs to (`packages/core`), or `''` for the root README. */
  readonly packageDir: string;
  /** A name unique among all blocks, usable as a file name (`root-3`, `core-0`). */
  readonly name: string;
  /** The README line the code starts on, for messages. */
  readonly line: number;
  readonly code: string;
  /**
   * Marked ```` ```ts types-only ````: type-checked but not run (it needs what a test cannot
   * provide, such as TLS certificates).
   */
  readonly typesOnly: boolean;
}

/** The README of the repository and of every package in `packages/`. */
export function readmes(): string[] {
  const packages = readdirSync(join(REPO_ROOT, 'packages'))
    .map((dir) => `packages/${dir}/README.md`)
    .filter((file) => existsSync(join(REPO_ROOT, file)))
    .sort();
  return ['README.md', ...packages];
}

/** The TypeScript blocks of a README's text. */
export function blocksOf(text: string, readme: string): ReadmeBlock[] {
  const packageDir = readme === 'README.md' ? '' : readme.slice(0, -'/README.md'.length);
  const prefix = packageDir === '' ? 'root' : packageDir.slice('packages/'.length);
  return [...text.matchAll(/^```ts( [^\n]*)?\n([\s\S]*?)^```/gm)].map((match, i) => ({
    readme,
    packageDir,
    name: `${prefix}-${i}`,
    line: text.slice(0, match.index).split('\n').length + 1,
    code: match[2]!,
    typesOnly: (match[1] ?? '').trim() === 'types-only',
  }));
}

/** Every TypeScript block of every README of the repository. */
export function readmeBlocks(): ReadmeBlock[] {
  return readmes().flatMap((readme) => blocksOf(readFileSync(join(REPO_ROOT, readme), 'utf8'), readme));
}

/** Whether a block starts a server: it prints `registry on <url>` once listening. */
export function isServerBlock(code: string): boolean {
  return code.includes('registry on http');
}

/** Whether a block registers test suites (`define…Suite(`), so it runs inside a test runner. */
export function isSuiteBlock(code: string): boolean {
  return /\bdefine\w*Suite\(/.test(code);
}

/**
 * Splits a block into its import declarations and the rest, so that the rest can be wrapped in a
 * function where top-level `await` is not available (CommonJS).
 */
export function splitImports(code: string): { imports: string; body: string } {
  const imports: string[] = [];
  const body = code.replace(/^import\s[^;]*;[ \t]*\n/gm, (statement) => {
    imports.push(statement);
    return '';
  });
  return { imports: imports.join(''), body };
}
