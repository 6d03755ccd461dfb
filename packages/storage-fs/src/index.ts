import type { RegistryStorage } from '@wharf/core';

/** Options of {@link createFsStorage}. */
export interface FsStorageOptions {
  /** The storage root directory (created if missing). */
  readonly root: string;
}

/** Filesystem storage (placeholder until the backend lands). */
export async function createFsStorage(
  _options: FsStorageOptions,
): Promise<RegistryStorage & { close(): Promise<void> }> {
  throw new Error('not implemented');
}
