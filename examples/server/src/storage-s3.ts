import type { ServerConfig } from './config.js';
import type { ServerStorage } from './storage.js';

/** S3 storage from the `S3_*` settings (placeholder until the backend lands). */
export async function createS3StorageFromConfig(_config: ServerConfig): Promise<ServerStorage> {
  throw new Error('S3 storage is not available yet');
}
