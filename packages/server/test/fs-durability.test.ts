import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { StorageSettings } from '../src/config/settings.js';
import { createStorage } from '../src/storage/index.js';
import { type TempDir, tempDir } from './helpers.js';

let temp: TempDir;
beforeEach(async () => {
  temp = await tempDir();
});
afterEach(() => temp.remove());

/** The storage settings of a config file whose `storage.filesystem` holds `root` and `lines`. */
async function load(root: string, lines: readonly string[]) {
  const yaml = ['storage:', '  filesystem:', `    rootdirectory: ${root}`, ...lines, ''].join('\n');
  return loadConfig({ file: await temp.file(`${lines.length}-${Date.now()}.yml`, yaml), env: {} });
}

/**
 * What a new upload session records in the configured store: `boot` when its chunks are not
 * flushed before their 202, so the session ends at reboot; none when they are
 * (docs/architecture.md, "Durability").
 */
async function sessionBoot(settings: StorageSettings, root: string): Promise<string | undefined> {
  const server = await createStorage(settings);
  try {
    const id = randomUUID();
    await server.storage.uploads.create({ id, repository: 'app', algorithm: 'sha256' });
    const info = join(root, 'docker/registry/v2/_wharf/uploads', id, 'info');
    return (JSON.parse(await readFile(info, 'utf8')) as { boot?: string }).boot;
  } finally {
    await server.close();
  }
}

describe('storage.filesystem durability settings', () => {
  it('leave chunks unflushed by default', async () => {
    const root = join(temp.dir, 'default');
    const { settings, problems } = await load(root, []);
    expect(problems).toEqual([]);
    expect(settings!.storage).toMatchObject({ driver: 'filesystem', root, fsync: true, syncChunks: false });
    expect(await sessionBoot(settings!.storage, root)).toEqual(expect.any(String));
  });

  it('flush each chunk before its 202 with syncchunks', async () => {
    const root = join(temp.dir, 'synced');
    const { settings, problems } = await load(root, ['    syncchunks: true']);
    expect(problems).toEqual([]);
    expect(settings!.storage).toMatchObject({ fsync: true, syncChunks: true });
    expect(await sessionBoot(settings!.storage, root)).toBeUndefined();
  });

  it('turn every flush off with fsync: false, and refuse syncchunks without it', async () => {
    const root = join(temp.dir, 'unsynced');
    const off = await load(root, ['    fsync: false']);
    expect(off.problems).toEqual([]);
    expect(off.settings!.storage).toMatchObject({ fsync: false, syncChunks: false });

    const refused = await load(root, ['    fsync: false', '    syncchunks: true']);
    expect(refused.settings).toBeUndefined();
    expect(refused.problems.map((p) => `${p.severity} ${p.path}: ${p.message}`)).toEqual([
      'error storage.filesystem.syncchunks: needs storage.filesystem.fsync',
    ]);
  });
});
