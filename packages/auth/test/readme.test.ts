import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/** Every TypeScript example in the package README runs as written (they are all in-process). */
const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = join(root, '.tmp', `readme-${process.pid}`);
mkdirSync(dir, { recursive: true });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('@wharf/auth README examples', () => {
  it('has examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  blocks.forEach((code, i) => {
    it(`example ${i} runs`, async () => {
      const file = join(dir, `block-${i}.ts`);
      writeFileSync(file, code);
      await import(file);
    });
  });
});
