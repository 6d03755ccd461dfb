/** The server's configuration, read from the environment. */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly storage: 'memory';
  readonly root: string;
}

/** Reads `HOST`, `PORT`, `WHARF_STORAGE` and `WHARF_ROOT`; throws a readable error for bad values. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = Number(env.PORT ?? 5000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, got ${env.PORT}`);
  const storage = env.WHARF_STORAGE ?? 'memory';
  if (storage !== 'memory') throw new Error(`WHARF_STORAGE must be "memory", got ${JSON.stringify(storage)}`);
  return { host: env.HOST ?? '127.0.0.1', port, storage, root: env.WHARF_ROOT ?? './data' };
}
