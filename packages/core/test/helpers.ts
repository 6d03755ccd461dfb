import {
  collectBytes,
  createRegistry,
  type Registry,
  type RegistryOptions,
  type RegistryRequest,
  type RegistryResponse,
  type UploadStore,
} from '@wharf/core';
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

/**
 * A request straight to `handle`, with the target, headers and body exactly as given: no URL
 * parsing normalises dot segments or escapes on the way.
 */
export function rawRequest(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  chunks: Uint8Array[] | null = null,
): RegistryRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method,
    url,
    headers: { get: (name) => lower[name.toLowerCase()] ?? null },
    body: chunks
      ? (async function* () {
          yield* chunks;
        })()
      : null,
  };
}

/** The spec error body's first code of a response from `handle`. */
export async function responseErrorCode(response: RegistryResponse): Promise<string | undefined> {
  const { body } = response;
  if (!body) return undefined;
  const bytes = body instanceof Uint8Array ? Buffer.from(body) : await collectBytes(body);
  return (JSON.parse(bytes.toString()) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
}

/**
 * Everything a registry's storage holds (blobs, upload sessions with their sizes, and per
 * repository its blob links, manifest revisions, tags and referrers), to prove that a rejected
 * request changed nothing.
 */
export async function storageSnapshot(registry: Registry) {
  const { blobs, uploads, metadata } = registry.storage;
  const repositories = await metadata.listRepositories();
  const sorted = (items: string[]) => items.sort();
  return {
    blobs: sorted((await all(blobs.list())).map((b) => `${b.digest}:${b.size}`)),
    uploads: sorted((await all(uploads.list())).map((u) => `${u.id}:${u.repository}:${u.size}`)),
    repositories: await Promise.all(
      repositories.map(async (name) => {
        const manifests = sorted((await all(metadata.listManifests(name))).map((m) => m.digest));
        const tags = await metadata.listTags(name);
        return {
          name,
          links: sorted((await all(metadata.listBlobLinks(name))).map((l) => l.digest)),
          manifests,
          tags: await Promise.all(tags.map(async (tag) => `${tag}:${await metadata.getTag(name, tag)}`)),
          referrers: await Promise.all(
            manifests.map(async (d) => (await metadata.listReferrers(name, d)).map((r) => r.digest)),
          ),
        };
      }),
    ),
  };
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
