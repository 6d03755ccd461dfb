#!/usr/bin/env node
// `pnpm start`: bundles the server when its sources (or the workspace packages it bundles) are
// newer than the bundle, then runs it. A built checkout starts without building anything.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const server = dirname(dirname(fileURLToPath(import.meta.url)));
const packages = dirname(server);
const bundle = join(server, 'dist/cli.js');

function newest(path) {
  let latest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

let built = 0;
try {
  built = statSync(bundle).mtimeMs;
} catch {}
const sources = Math.max(
  statSync(join(server, 'tsup.config.ts')).mtimeMs,
  statSync(join(server, 'package.json')).mtimeMs,
  ...readdirSync(packages).map((name) => {
    try {
      return newest(join(packages, name, 'src'));
    } catch {
      return 0;
    }
  }),
);
if (sources > built) {
  const require = createRequire(join(server, 'package.json'));
  const tsup = join(dirname(require.resolve('tsup/package.json')), require('tsup/package.json').bin.tsup);
  const result = spawnSync(process.execPath, [tsup, '--silent'], { cwd: server, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
await import(bundle);
