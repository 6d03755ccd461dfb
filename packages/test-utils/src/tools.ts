import { spawnSync } from 'node:child_process';

/**
 * Whether an external program (skopeo, podman, docker-registry, radosgw…) is installed. Tests
 * that need one skip without it on a developer machine; CI sets `WHARF_E2E_REQUIRED=1` so a
 * missing tool fails the run instead of silently skipping.
 */
export function hasTool(name: string): boolean {
  const found =
    spawnSync('sh', ['-c', `command -v ${JSON.stringify(name)}`], { stdio: 'ignore' }).status === 0;
  if (!found && process.env.WHARF_E2E_REQUIRED === '1') {
    throw new Error(`${name} is required (WHARF_E2E_REQUIRED=1) but not installed`);
  }
  return found;
}

/** The S3 endpoint the tests may use (set by the global setup or the environment), if any. */
export function s3Env():
  | { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string }
  | undefined {
  const { S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    if (process.env.WHARF_E2E_REQUIRED === '1')
      throw new Error('an S3 endpoint is required (WHARF_E2E_REQUIRED=1)');
    return undefined;
  }
  return {
    endpoint: S3_ENDPOINT,
    region: S3_REGION ?? 'us-east-1',
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
  };
}

/** Runs a program to completion; rejects with its output when it exits non-zero. */
export async function run(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}
