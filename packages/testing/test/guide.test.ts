import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@wharf/test-utils';
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

writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../../../tsconfig.base.json',
    compilerOptions: { noEmit: true },
    include: ['*.ts'],
  }),
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the guide, testing your registry client', () => {
  it('has a vitest and a node:test example', () => {
    expect(files.map((f) => f.runner).sort()).toEqual(['node:test', 'vitest']);
  });

  it('type-checks its examples (strict)', async () => {
    const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'));
    await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { timeoutMs: 120_000 });
  }, 120_000);

  for (const { runner, file } of files) {
    if (runner !== 'node:test') continue;
    it('runs its node:test example, every test passing', async () => {
      const { stdout } = await run(
        process.execPath,
        ['--conditions=@wharf/source', '--import', 'tsx', '--test', file],
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
