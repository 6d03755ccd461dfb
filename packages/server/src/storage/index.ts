import { createMemoryStorage, type RegistryStorage } from '@wharf/core';
import type { ServerConfig } from './config.js';

/** Storage plus whatever must be released at shutdown. */
export interface ServerStorage {
  readonly storage: RegistryStorage;
  close(): Promise<void>;
}

/** Creates the configured storage backend. */
export async function createStorage(config: ServerConfig): Promise<ServerStorage> {
  switch (config.storage) {
    case 'memory':
      return { storage: createMemoryStorage(), close: async () => {} };
    // Loaded on demand: a backend (and its SDK) costs nothing unless it is chosen.
    case 'fs':
      return (await import('./storage-fs.js')).createFsStorageFromConfig(config);
    case 's3':
      return (await import('./storage-s3.js')).createS3StorageFromConfig(config);
  }
}
