import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, type Dirent } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { freePort } from '@wharf/test-utils';

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `wharf-fs-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under `root` as sorted relative paths (directories excluded). */
export async function listFiles(root: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** `<root>/docker/registry/v2` */
export function v2(root: string): string {
  return join(root, 'docker', 'registry', 'v2');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks the invariants a crash must never break: every blob's bytes match its digest, and every
 * link (layer, revision, tag, tag index) names a blob that exists. Returns the problems found.
 */
export async function checkStorage(root: string): Promise<string[]> {
  const problems: string[] = [];
  const base = v2(root);
  const files = await listFiles(base);
  const blobs = new Set<string>();
  for (const file of files) {
    const parts = file.split(sep);
    if (parts[0] !== 'blobs') continue;
    const [, algorithm, prefix, hex, name] = parts;
    if (parts.length !== 5 || name !== 'data' || algorithm !== 'sha256' || !hex?.startsWith(prefix ?? '-')) {
      problems.push(`unexpected file in the blob store: ${file}`);
      continue;
    }
    const actual = await sha256File(join(base, file));
    if (actual !== hex) problems.push(`blob ${hex} holds bytes hashing to ${actual}`);
    else blobs.add(`sha256:${hex}`);
  }
  for (const file of files) {
    if (!file.startsWith(`repositories${sep}`) || !file.endsWith(`${sep}link`)) continue;
    if (file.includes(`${sep}_uploads${sep}`)) continue;
    const target = (await readFile(join(base, file), 'utf8')).trim();
    if (!blobs.has(target)) problems.push(`${file} points at missing or damaged blob ${target || '(empty)'}`);
  }
  return problems;
}

/** A `docker-registry` (CNCF distribution 2.x) process serving a filesystem root. */
export interface DistributionRegistry {
  readonly url: string;
  readonly host: string;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts Debian's `docker-registry` on a free loopback port over `root`; stop it by PID. */
export async function startDistribution(root: string, work: string): Promise<DistributionRegistry> {
  const port = await freePort();
  const config = join(work, `distribution-${port}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(root)}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited early:\n${output}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, host: `127.0.0.1:${port}`, pid: child.pid!, output: () => output, stop };
}
