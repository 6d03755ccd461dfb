import { createFsStorage } from '@wharf/storage-fs';
import type { ServerConfig } from './config.js';
import type { ServerStorage } from './storage.js';

/** Filesystem storage under `WHARF_ROOT`. */
export async function createFsStorageFromConfig(config: ServerConfig): Promise<ServerStorage> {
  const storage = await createFsStorage({ root: config.root });
  return { storage, close: () => storage.close() };
}
