import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@wharf/test-utils';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The examples of docs/testing-registry-clients.md run as written: the vitest suite registers its
 * tests in this file, the node:test suite runs under `node --test` and must pass every test.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const guide = readFileSync(join(root, 'docs', 'testing-registry-clients.md'), 'utf8');
const blocks = [...guide.matchAll(/^```ts (vitest|node:test)\n([\s\S]*?)^```/gm)].map((m) => ({
  runner: m[1]!,
  code: m[2]!,
}));
// Inside the package, so `@wharf/testing` and vitest resolve as in a project that installed them.
const dir = join(root, 'packages', 'testing', '.tmp', `guide-${process.pid}`);
mkdirSync(dir, { recursive: true });
const files = blocks.map((block, i) => {
  const file = join(dir, `guide-${i}.test.ts`);
  writeFileSync(file, block.code);
  return { ...block, file };
});

/**
 * Type errors of the examples under the repository's strict options, as `file:line: message`.
 * Only the examples are checked (what they use is checked by the repository's own typecheck),
 * which keeps this to seconds.
 */
function typeErrors(): string[] {
  const base = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(
    { ...base.config, compilerOptions: { ...base.config.compilerOptions, noEmit: true, declaration: false } },
    ts.sys,
    root,
  );
  const program = ts.createProgram(
    files.map((f) => f.file),
    options,
  );
  return files.flatMap(({ file }) =>
    ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => {
      const { line } = diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start ?? 0) ?? { line: 0 };
      return `${diagnostic.file?.fileName ?? 'tsc'}:${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    }),
  );
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the guide, testing your registry client', () => {
  it('has a vitest and a node:test example', () => {
    expect(files.map((f) => f.runner).sort()).toEqual(['node:test', 'vitest']);
  });

  it('type-checks its examples (strict)', () => {
    expect(typeErrors()).toEqual([]);
  }, 60_000);

  for (const { runner, file } of files) {
    if (runner !== 'node:test') continue;
    it('runs its node:test example, every test passing', async () => {
      const { stdout } = await run(
        process.execPath,
        // TAP: the default reporter differs between Node.js lines.
        ['--conditions=@wharf/source', '--import', 'tsx', '--test', '--test-reporter=tap', file],
        {
          cwd: dir,
          timeoutMs: 120_000,
        },
      );
      expect(stdout).toMatch(/^# pass [1-9]\d*$/m);
      expect(stdout).toMatch(/^# fail 0$/m);
    });
  }
});

// The vitest example registers its tests here.
for (const { runner, file } of files) if (runner === 'vitest') await import(file);
