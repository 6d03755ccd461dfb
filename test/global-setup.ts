import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const START = fileURLToPath(new URL('../scripts/ceph/start-ceph.sh', import.meta.url));
const STOP = fileURLToPath(new URL('../scripts/ceph/stop-ceph.sh', import.meta.url));
const ENDPOINT = `http://127.0.0.1:${process.env.CEPH_S3_PORT ?? '7480'}/`;

async function s3Answers(): Promise<boolean> {
  try {
    return (await fetch(ENDPOINT, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/**
 * Provides an S3 endpoint for the S3 tests when none is configured: reuses a running throw-away
 * Ceph RADOS Gateway, or starts one (and then stops it afterwards). Without radosgw installed the
 * S3 tests skip (or fail under WHARF_E2E_REQUIRED=1).
 */
export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.S3_ENDPOINT || process.env.WHARF_NO_CEPH === '1') return undefined;
  if (spawnSync('sh', ['-c', 'command -v radosgw'], { stdio: 'ignore' }).status !== 0) return undefined;
  // Someone else's cluster (another test run, a developer's shell): use it, never stop it.
  const reused = await s3Answers();
  const output = execFileSync('bash', [START], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of output.split('\n')) {
    const match = /^(?:export\s+)?(S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) process.env[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, '');
  }
  if (reused) return undefined;
  return () => {
    execFileSync('bash', [STOP, '--wipe'], { stdio: 'inherit' });
  };
}
