import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { REPO_ROOT, run, startServer } from '@wharf/test-utils';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { isServerBlock, isSuiteBlock, type ReadmeBlock, readmeBlocks } from './readme-blocks.js';

/**
 * Every TypeScript example of the repository's README and of each package's README type-checks
 * (strict, against the packages' sources) and runs as written: servers as child processes (probed,
 * then stopped), test-suite examples by registering their tests in this file, everything else as
 * a child process that must exit 0 (blocks marked `ts types-only` are only type-checked). Each runs in a scratch folder of its package, so files it
 * creates (`./data`) stay out of the repository. Examples marked `// Express 4` are checked and
 * run against Express 4. A package with its own `test/readme.test.ts` runs its examples there.
 */
const blocks = readmeBlocks();
const dirs = new Set<string>();
const files = new Map<ReadmeBlock, string>();
for (const block of blocks) {
  const dir = join(REPO_ROOT, block.packageDir, '.tmp', `readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  dirs.add(dir);
  const code = block.code.includes('// Express 4')
    ? block.code.replaceAll("from 'express'", "from 'express4'")
    : block.code;
  const file = join(dir, `${block.name}.ts`);
  writeFileSync(file, code);
  files.set(block, file);
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Type errors of the examples, as `README.md:12: message` (README line numbers). */
function typeErrors(): string[] {
  const base = ts.readConfigFile(join(REPO_ROOT, 'tsconfig.base.json'), ts.sys.readFile);
  const config = ts.parseJsonConfigFileContent(
    { ...base.config, compilerOptions: { ...base.config.compilerOptions, noEmit: true }, files: [] },
    ts.sys,
    REPO_ROOT,
  );
  const program = ts.createProgram([...files.values()], config.options);
  const byFile = new Map([...files].map(([block, file]) => [file, block]));
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const block = diagnostic.file ? byFile.get(diagnostic.file.fileName) : undefined;
    if (!diagnostic.file || !block) {
      return `${diagnostic.file ? relative(REPO_ROOT, diagnostic.file.fileName) : 'tsc'}: ${message}`;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    return `${block.readme}:${block.line + line}: ${message}`;
  });
}

/** Packages that run their own README's examples in their test suite. */
function runsOwnExamples(block: ReadmeBlock): boolean {
  return block.packageDir !== '' && existsSync(join(REPO_ROOT, block.packageDir, 'test', 'readme.test.ts'));
}

describe('README examples', () => {
  it('has examples to check', () => {
    expect(blocks.filter((b) => b.readme === 'README.md').length).toBeGreaterThanOrEqual(6);
    expect(new Set(blocks.map((b) => b.readme)).size).toBeGreaterThanOrEqual(6);
  });

  it('type-check (strict)', () => {
    expect(typeErrors()).toEqual([]);
  }, 180_000);

  for (const block of blocks) {
    const file = files.get(block)!;
    if (block.typesOnly || isSuiteBlock(block.code) || runsOwnExamples(block)) continue;
    if (isServerBlock(block.code)) {
      it(`${block.readme}:${block.line} serves a registry`, async () => {
        const server = await startServer({ main: file, env: { PORT: '0' }, cwd: dirname(file) });
        try {
          const res = await fetch(`${server.url}/v2/`);
          expect(res.status).toBe(200);
          expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        } finally {
          await server.stop();
        }
      });
    } else {
      it(`${block.readme}:${block.line} runs`, async () => {
        await run(process.execPath, ['--conditions=@wharf/source', '--import', 'tsx', file], {
          cwd: dirname(file),
          timeoutMs: 60_000,
        });
      });
    }
  }
});

// Examples that define test suites register their tests here.
for (const block of blocks) {
  if (isSuiteBlock(block.code)) await import(files.get(block)!);
}
