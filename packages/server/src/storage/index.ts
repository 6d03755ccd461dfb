import { createMemoryStorage, type RegistryStorage } from '@wharf/core';
import type { StorageSettings } from '../config/settings.js';

/** Storage plus what the server needs around it. */
export interface ServerStorage {
  readonly storage: RegistryStorage;
  /** Resolves when the storage answers (the fs root is writable, the bucket answers); throws otherwise. */
  probe(): Promise<void>;
  close(): Promise<void>;
}

/** Creates the configured storage backend. */
export async function createStorage(settings: StorageSettings): Promise<ServerStorage> {
  switch (settings.driver) {
    case 'inmemory':
      return { storage: createMemoryStorage(), probe: async () => {}, close: async () => {} };
    // Loaded on demand: a backend (and its SDK) costs nothing unless it is chosen.
    case 'filesystem':
      return (await import('./fs.js')).createFsStorageFromSettings(settings);
    case 's3':
      return (await import('./s3.js')).createS3StorageFromSettings(settings);
  }
}
