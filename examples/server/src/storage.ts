import { createMemoryStorage, type RegistryStorage } from '@wharf/core';
import type { ServerConfig } from './config.js';
import { createFsStorageFromConfig } from './storage-fs.js';
import { createS3StorageFromConfig } from './storage-s3.js';

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
    case 'fs':
      return createFsStorageFromConfig(config);
    case 's3':
      return createS3StorageFromConfig(config);
  }
}
