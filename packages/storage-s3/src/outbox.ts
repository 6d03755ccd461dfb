import {
  collectBytes,
  type EventPutOptions,
  type EventStore,
  InvalidKeyError,
  isEventKey,
  type ListPage,
} from '@wharf/core';
import { statusOf } from './objects/errors.js';
import type { ObjectStore } from './objects/types.js';

/** Records are small; anything bigger is not one of ours. */
const MAX_RECORD = 64 * 1024 * 1024;

/**
 * The event outbox as small objects under `<prefix>docker/registry/v2/_wharf/events/`. Creating a
 * record with `ifAbsent` is a `PutObject` with `If-None-Match: *`, so replicas sharing the bucket
 * contend for leases exactly. On a server without conditional writes (`conditionalWrites: false`)
 * it degrades to a check before the write: racing replicas may then both win and deliver an event
 * twice (delivery is at least once either way).
 */
export class S3EventStore implements EventStore {
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #conditional: boolean;

  constructor(store: ObjectStore, root: string, conditional: boolean) {
    this.#store = store;
    this.#prefix = `${root}_wharf/events/`;
    this.#conditional = conditional;
  }

  #key(key: string): string {
    if (!isEventKey(key)) throw new InvalidKeyError('event', key);
    return `${this.#prefix}${key}`;
  }

  async put(key: string, value: Uint8Array, options: EventPutOptions = {}): Promise<boolean> {
    const objectKey = this.#key(key);
    if (options.ifAbsent && !this.#conditional && (await this.#store.head(objectKey)) !== null) return false;
    try {
      return await this.#store.put(objectKey, value, {
        ifNoneMatch: Boolean(options.ifAbsent && this.#conditional),
      });
    } catch (error) {
      // AWS answers 409 to the losers of a race it is still settling.
      if (options.ifAbsent && statusOf(error) === 409) return false;
      throw error;
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    const body = await this.#store.get(this.#key(key));
    return body ? collectBytes(body, MAX_RECORD) : null;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#store.delete(keys.map((key) => this.#key(key)));
  }

  async list(dir: string, page: ListPage = {}): Promise<string[]> {
    const prefix = `${this.#key(dir)}/`;
    const limit = page.limit ?? Number.POSITIVE_INFINITY;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const result = await this.#store.list(prefix, {
        delimiter: '/',
        ...(token ? { token } : page.after !== undefined ? { startAfter: `${prefix}${page.after}` } : {}),
        maxKeys: Math.min(1000, limit - names.length),
      });
      for (const object of result.objects) names.push(object.key.slice(prefix.length));
      token = result.next;
    } while (token && names.length < limit);
    return names.slice(0, limit);
  }
}
