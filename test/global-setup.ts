import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const START = fileURLToPath(new URL('../scripts/ceph/start-ceph.sh', import.meta.url));
const STOP = fileURLToPath(new URL('../scripts/ceph/stop-ceph.sh', import.meta.url));

/**
 * Starts a throw-away Ceph RADOS Gateway for the S3 tests when one is installed and no S3 endpoint
 * is configured, and stops it afterwards. Without radosgw the S3 tests skip (or fail under
 * WHARF_E2E_REQUIRED=1).
 */
export default function setup(): (() => void) | undefined {
  if (process.env.S3_ENDPOINT || process.env.WHARF_NO_CEPH === '1') return undefined;
  if (spawnSync('sh', ['-c', 'command -v radosgw'], { stdio: 'ignore' }).status !== 0) return undefined;
  const output = execFileSync('bash', [START, '--fresh'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of output.split('\n')) {
    const match = /^(?:export\s+)?(S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) process.env[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, '');
  }
  return () => {
    execFileSync('bash', [STOP, '--wipe'], { stdio: 'inherit' });
  };
}
