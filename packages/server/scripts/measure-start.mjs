#!/usr/bin/env node
// Measures how long the built server takes from `node dist/cli.js serve` to listening (in-memory
// storage, an ephemeral port): `node packages/server/scripts/measure-start.mjs [runs]`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const runs = Number(process.argv[2] ?? 10);
const times = [];
for (let i = 0; i < runs; i++) {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: { ...process.env, REGISTRY_STORAGE: 'inmemory', REGISTRY_HTTP_ADDR: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      output += chunk;
      if (output.includes('wharf listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening`)));
  });
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  `listening after ${median.toFixed(0)} ms (median of ${runs}; min ${times[0].toFixed(0)}, max ${times.at(-1).toFixed(0)})`,
);
