import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createFsStorage } from '@wharf/storage-fs';
import type { StorageSettings } from '../config/settings.js';
import type { ServerStorage } from './index.js';

/** Filesystem storage under the configured root. */
export async function createFsStorageFromSettings(
  settings: Extract<StorageSettings, { driver: 'filesystem' }>,
): Promise<ServerStorage> {
  const storage = await createFsStorage({
    root: settings.root,
    fsync: settings.fsync,
    syncChunks: settings.syncChunks,
  });
  return {
    storage,
    async probe() {
      // The root must still be a directory this process may write to (gone, remounted read-only…).
      if (!(await stat(storage.root)).isDirectory()) throw new Error(`${storage.root} is not a directory`);
      await access(storage.root, constants.W_OK);
    },
    close: () => storage.close(),
  };
}
