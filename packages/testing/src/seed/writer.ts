import type { Registry, RegistryRequest } from '@wharf/core';
import { readAll } from '../responses.js';
import { sha256 } from './formats.js';

/** Thrown when content cannot be seeded (a broken archive, or a registry that refused it). */
export class SeedError extends Error {
  override readonly name = 'SeedError';
}

/** Bytes to upload: in memory, or a stream opened when needed. */
export type BlobBody = Uint8Array | (() => AsyncIterable<Uint8Array>);

/**
 * Writes content through a registry's own API (the registry without quirks or faults), so seeded
 * content is validated and stored exactly as a push would store it.
 */
export class ContentWriter {
  readonly #registry: Pick<Registry, 'handle'>;

  constructor(registry: Pick<Registry, 'handle'>) {
    this.#registry = registry;
  }

  async #send(method: string, url: string, headers: Record<string, string>, body: RegistryRequest['body']) {
    const response = await this.#registry.handle({ method, url, headers: new Headers(headers), body });
    return { status: response.status, headers: response.headers, body: await readAll(response.body) };
  }

  /** Uploads a blob unless the repository already has it. */
  async blob(repository: string, digest: string, size: number, body: BlobBody): Promise<void> {
    const head = await this.#send('HEAD', `/v2/${repository}/blobs/${digest}`, {}, null);
    if (head.status === 200) return;
    const stream =
      body instanceof Uint8Array
        ? (async function* () {
            yield body;
          })()
        : body();
    const res = await this.#send(
      'POST',
      `/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`,
      { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      stream,
    );
    if (res.status !== 201) {
      throw new SeedError(`blob ${digest} in ${repository}: ${res.status} ${res.body.toString('utf8')}`);
    }
  }

  /** Stores a manifest under a tag or its digest; resolves its digest. */
  async manifest(
    repository: string,
    reference: string,
    mediaType: string,
    bytes: Uint8Array,
  ): Promise<string> {
    const res = await this.#send(
      'PUT',
      `/v2/${repository}/manifests/${reference}`,
      { 'Content-Type': mediaType, 'Content-Length': String(bytes.byteLength) },
      (async function* () {
        yield bytes;
      })(),
    );
    if (res.status !== 201) {
      throw new SeedError(
        `manifest ${reference} in ${repository}: ${res.status} ${res.body.toString('utf8')}`,
      );
    }
    return sha256(bytes);
  }
}
