import { createRegistry, type Registry, type RegistryOptions, type UploadStore } from '@wharf/core';
import { OciClient } from '@wharf/test-utils';

/** An in-process registry and a client talking to it through `registry.fetch`. */
export function setup(options: RegistryOptions = {}): { registry: Registry; client: OciClient } {
  const registry = createRegistry(options);
  const client = new OciClient('http://registry.local', (input, init) => registry.fetch(input, init));
  return { registry, client };
}

/** The spec error body's first code. */
export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: Array<{ code?: string }> };
  return body.errors?.[0]?.code;
}

/** Collects an async iterable. */
export async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

/** An upload store delegating to `inner`, with some methods replaced (fault injection, counting). */
export function wrapUploads(inner: UploadStore, overrides: Partial<UploadStore>): UploadStore {
  return {
    create: (init) => inner.create(init),
    get: (id) => inner.get(id),
    append: (id, options) => inner.append(id, options),
    saveHashState: (id, state) => inner.saveHashState(id, state),
    read: (id, window, signal) => inner.read(id, window, signal),
    commit: (id, options) => inner.commit(id, options),
    delete: (id) => inner.delete(id),
    list: () => inner.list(),
    ...overrides,
  };
}
