import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, run } from '@wharf/test-utils';
import { blocksOf, isSuiteBlock, type ReadmeBlock, splitImports } from '../readme-blocks.js';
import { type PackageManifest, publicPackages } from './workspace.js';

/**
 * The `@aws-sdk/client-s3` the consumer pins: a release more than a year older than the
 * workspace's, so the S3 examples prove that storage-s3 takes the app's own client.
 */
export const OLD_AWS_SDK = '3.922.0';

const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  packageManager: string;
  devDependencies: Record<string, string>;
};

/** `pnpm` as the repository pins it. */
function pnpm(args: readonly string[], cwd: string, timeoutMs = 900_000) {
  return run('npx', ['-y', root.packageManager, ...args], { cwd, timeoutMs });
}

/**
 * Packs every public package with the repository's own command (`pnpm pack`, which builds on
 * `prepack`) into `dest`, and returns the tarball of each package by name.
 */
export async function packAll(dest: string): Promise<Map<string, string>> {
  await pnpm(['-r', '--filter', './packages/*', 'pack', '--pack-destination', dest], REPO_ROOT);
  const tarballs = new Map<string, string>();
  for (const { manifest } of publicPackages()) {
    const file = `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`;
    if (!readdirSync(dest).includes(file)) throw new Error(`pnpm pack made no ${file}`);
    tarballs.set(manifest.name, join(dest, file));
  }
  return tarballs;
}

/**
 * Installs the tarballs with plain npm into `dir`, a fresh project outside the workspace, next to
 * what the examples import: Express, pino, an old AWS SDK, vitest for the conformance suites.
 */
export async function installProject(dir: string, tarballs: ReadonlyMap<string, string>): Promise<void> {
  const pinned = (name: string) => root.devDependencies[name]!;
  const manifest = {
    name: 'wharf-consumer',
    private: true,
    type: 'module',
    dependencies: {
      ...Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`])),
      '@aws-sdk/client-s3': OLD_AWS_SDK,
      '@aws-sdk/s3-request-presigner': OLD_AWS_SDK,
      express: pinned('express'),
      pino: pinned('pino'),
    },
    devDependencies: {
      '@types/express': pinned('@types/express'),
      '@types/node': pinned('@types/node'),
      vitest: pinned('vitest'),
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    timeoutMs: 900_000,
  });
}

/** One program of the consumer app, built from a README example (or one of the app's own checks). */
export interface AppFile {
  /** File name without extension. */
  readonly name: string;
  /** Where it came from, for messages (`README.md:59`). */
  readonly origin: string;
  readonly block?: ReadmeBlock;
}

const COMPILER_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2023', 'DOM'],
  strict: true,
  noUncheckedIndexedAccess: true,
  esModuleInterop: true,
  skipLibCheck: false,
  types: ['node'],
};

function tsconfig(dir: string, options: Record<string, unknown>, include: string[]): void {
  const config = { compilerOptions: { ...COMPILER_OPTIONS, ...options }, include };
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/** The README examples the consumer app is built from: the repository's and each installed package's. */
export function consumerBlocks(dir: string): ReadmeBlock[] {
  const readmes = publicPackages().map(
    ({ dir: folder, manifest }: { dir: string; manifest: PackageManifest }) => ({
      readme: `packages/${folder}/README.md`,
      file: join(dir, 'node_modules', manifest.name, 'README.md'),
    }),
  );
  return [{ readme: 'README.md', file: join(REPO_ROOT, 'README.md') }, ...readmes].flatMap(
    ({ readme, file }) => blocksOf(readFileSync(file, 'utf8'), readme),
  );
}

/**
 * Writes the consumer app into `dir`: every README example as written under `esm/` (ES modules,
 * `node16`), again under `cjs/` (CommonJS, `node16`; wrapped in an async function, as CommonJS
 * has no top-level `await`), the app's own checks in both, and a `bundler` configuration over the
 * ES modules. Examples that define test suites become `esm/*.test.ts` files for vitest.
 */
export function writeApp(dir: string, blocks: readonly ReadmeBlock[]): AppFile[] {
  const esm = join(dir, 'esm');
  const cjs = join(dir, 'cjs');
  const bundler = join(dir, 'bundler');
  for (const folder of [esm, cjs, bundler]) mkdirSync(folder, { recursive: true });
  writeFileSync(join(cjs, 'package.json'), '{ "type": "commonjs" }\n');
  tsconfig(esm, { module: 'node16', moduleResolution: 'node16', outDir: 'dist' }, ['*.ts']);
  tsconfig(cjs, { module: 'node16', moduleResolution: 'node16', outDir: 'dist' }, ['*.ts']);
  tsconfig(bundler, { module: 'preserve', moduleResolution: 'bundler', noEmit: true }, ['../esm/*.ts']);

  const files: AppFile[] = [];
  for (const block of blocks) {
    const origin = `${block.readme}:${block.line}`;
    if (isSuiteBlock(block.code)) {
      writeFileSync(join(esm, `${block.name}.test.ts`), block.code);
      continue;
    }
    writeFileSync(join(esm, `${block.name}.ts`), block.code);
    const { imports, body } = splitImports(block.code);
    const wrapped = `${imports}\nasync function main(): Promise<void> {\n${body}}\n\nmain().catch((error: unknown) => {\n  console.error(error);\n  process.exitCode = 1;\n});\n`;
    writeFileSync(join(cjs, `${block.name}.ts`), wrapped);
    files.push({ name: block.name, origin, block });
  }

  // The app's own checks, and an import of every entry point of every package.
  for (const folder of [esm, cjs])
    copyFileSync(join(REPO_ROOT, 'test/consumer/app/logging.ts'), join(folder, 'logging.ts'));
  files.push({ name: 'logging', origin: 'test/consumer/app/logging.ts' });
  const entries = publicPackages().flatMap(({ manifest }) =>
    Object.keys((manifest.exports ?? {}) as Record<string, unknown>)
      .filter((subpath) => subpath !== './package.json' && subpath !== './testing')
      .map((subpath) => `${manifest.name}${subpath.slice(1)}`),
  );
  const imports = entries.map((entry, i) => `import * as entry${i} from '${entry}';`).join('\n');
  const listing = entries.map(
    (entry, i) =>
      `  '${entry}': Object.keys(entry${i}).filter((key) => key !== 'default' && key !== '__esModule').sort(),`,
  );
  const program = `${imports}\n\nconsole.log(JSON.stringify({\n${listing.join('\n')}\n}));\n`;
  for (const folder of [esm, cjs]) writeFileSync(join(folder, 'entries.ts'), program);
  files.push({ name: 'entries', origin: 'every entry point' });
  return files;
}
