import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, startServer } from '@wharf/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every TypeScript example in the README runs as written: the in-process ones here, the server one
 * as a child process, the conformance-suite one by registering its tests in this file.
 */
const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = join(REPO_ROOT, '.tmp', `readme-${process.pid}`);
mkdirSync(dir, { recursive: true });
const files = blocks.map((code, i) => {
  const file = join(dir, `block-${i}.ts`);
  writeFileSync(file, code);
  return file;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README examples', () => {
  it('has examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  blocks.forEach((code, i) => {
    if (code.includes('createServer(')) {
      it(`example ${i} serves a registry`, async () => {
        // Run where the example may create files (./data) without touching the repository.
        const server = await startServer({ main: files[i]!, env: { PORT: '0' }, cwd: dir });
        try {
          const url = /registry on (http:\/\/\S+)/.exec(server.output())![1]!;
          const res = await fetch(`${url}/v2/`);
          expect(res.status).toBe(200);
          expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
        } finally {
          await server.stop();
        }
      });
    } else if (!code.includes('Suite(')) {
      it(`example ${i} runs`, async () => {
        await import(files[i]!);
      });
    }
  });
});

// The backend example registers its own tests.
for (const [i, code] of blocks.entries()) {
  if (code.includes('Suite(')) await import(files[i]!);
}
