import { InvalidKeyError } from '../errors.js';
import { isEventKey } from '../event-keys.js';
import type { EventPutOptions, EventStore, ListPage } from '../types.js';
import { compareBytewise } from './metadata-store.js';

function checked(key: string): string {
  if (!isEventKey(key)) throw new InvalidKeyError('event', key);
  return key;
}

/** The event outbox in process memory (lost with the process: for tests and development). */
export class MemoryEventStore implements EventStore {
  readonly #records = new Map<string, Uint8Array>();

  async put(key: string, value: Uint8Array, options: EventPutOptions = {}): Promise<boolean> {
    if (options.ifAbsent && this.#records.has(checked(key))) return false;
    this.#records.set(checked(key), Uint8Array.from(value));
    return true;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const value = this.#records.get(checked(key));
    return value ? Uint8Array.from(value) : null;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#records.delete(checked(key));
  }

  async list(dir: string, page: ListPage = {}): Promise<string[]> {
    const prefix = `${checked(dir)}/`;
    const names: string[] = [];
    for (const key of this.#records.keys()) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      if (!name.includes('/') && (page.after === undefined || compareBytewise(name, page.after) > 0)) {
        names.push(name);
      }
    }
    names.sort(compareBytewise);
    return page.limit === undefined ? names : names.slice(0, page.limit);
  }
}
