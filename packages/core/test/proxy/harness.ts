import { createRegistry, type Registry, type RegistryOptions, type RegistryStorage } from '@wharf/core';

/** A registry with upstreams, answering in process. */
export interface Proxied {
  readonly registry: Registry;
  readonly storage: RegistryStorage;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** A registry with these options (silent unless given a logger); `fetch` takes a path (`/v2/…`). */
export function proxied(options: RegistryOptions): Proxied {
  const registry = createRegistry({ logger: {}, ...options });
  return { registry, storage: registry.storage, fetch: (path, init) => registry.fetch(path, init) };
}

/** The spec error code of an error response's body, if any. */
export async function code(res: Response): Promise<string | undefined> {
  return ((await res.json()) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
}
