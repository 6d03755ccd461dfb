import type { Socket } from 'node:net';
import type { Clock, Registry, RegistryRequest, RegistryStorage, RouteName } from '@wharf/core';
import type { Random } from './random.js';

/** One request as the kit sees it: how it arrived, and what to record about it. */
export interface Exchange {
  /** How the request arrived: through `fetch` in process, or over the loopback socket. */
  readonly transport: 'fetch' | 'socket';
  /** The registry's origin as this client reached it. */
  readonly origin: string;
  /** The origin serving redirected blobs, for this transport. */
  readonly blobOrigin: string;
  /** The connection, for faults that cut it. */
  readonly socket?: Socket;
  /** The route that matched, once known. */
  route?: RouteName;
  repository?: string;
  /** Faults applied to this request, by name. */
  readonly faults: string[];
  /** Set when a fault drops the connection before any response. */
  dropped?: boolean;
}

/** What quirks and faults work with. */
export interface KitEnvironment {
  readonly clock: Clock;
  readonly storage: RegistryStorage;
  /** The registry without quirks or faults (seeding, redirect targets, lookups). */
  readonly inner: Pick<Registry, 'handle'>;
  /** Repositories (or projects) created with `createRepository`. */
  readonly created: Set<string>;
  exchangeOf(request: RegistryRequest): Exchange | undefined;
  /** A deterministic random sequence for `name`, derived from the registry's seed. */
  random(name: string): Random;
}
