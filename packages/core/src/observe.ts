import { finished, Readable } from 'node:stream';
import type { RouteName } from './http/route.js';
import type { RegistryResponse } from './http/types.js';
import type { Logger } from './logging.js';
import type { RegistryAction } from './options.js';
import type { ProxyCacheEvent, UpstreamRequestEvent } from './proxy/types.js';
import type { RegistryStorage } from './stores/types.js';

/** A request as it arrives, before routing. */
export interface RequestStartedEvent {
  readonly requestId: string;
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
}

/** A request whose response was sent completely, or abandoned. */
export interface RequestFinishedEvent {
  readonly requestId: string;
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  /**
   * The route that answered (a small, fixed set of names, e.g. `manifest`, `blob`,
   * `blob-upload`): safe as a metrics label. `undefined` for paths no route matched.
   */
  readonly route: RouteName | undefined;
  /** What the request asked to do, once known. */
  readonly action: RegistryAction | undefined;
  /** The repository, once parsed (never use it as a metrics label unless you bound it). */
  readonly repository: string | undefined;
  readonly status: number;
  /** The spec's error code of an error response. */
  readonly errorCode: string | undefined;
  /** Request body bytes the registry read. */
  readonly bytesIn: number;
  /** Response body bytes handed to the transport. */
  readonly bytesOut: number;
  /** From arrival until the response body was sent (or abandoned). */
  readonly durationSeconds: number;
  /** Who the `authorize` hook said the caller is (`{ allow: true, user }`). */
  readonly user: string | undefined;
  /** Whether the response body was abandoned before its end (client gone, stream failed). */
  readonly aborted: boolean;
}

/** Which store an operation ran on. */
export type StoreName = 'blobs' | 'uploads' | 'metadata';

/** One store call. For calls that return a stream, the time until the stream was handed back. */
export interface StorageOperationEvent {
  readonly store: StoreName;
  /** The store method, e.g. `stat`, `put`, `getTag`. */
  readonly operation: string;
  readonly durationSeconds: number;
  /** False when the call threw. */
  readonly ok: boolean;
}

/**
 * Hooks for metrics, tracing and access logs, so a host can feed its own prom-client registry or
 * OpenTelemetry. Called synchronously; keep them cheap. An observer that throws is logged and
 * otherwise ignored.
 */
export interface RegistryObserver {
  requestStarted?(event: RequestStartedEvent): void;
  requestFinished?(event: RequestFinishedEvent): void;
  storageOperation?(event: StorageOperationEvent): void;
  /** A pull of a proxied repository: a cache hit, miss, revalidation, stale answer or error. */
  proxyCache?(event: ProxyCacheEvent): void;
  /** A request to an upstream registry, once its body was read (bytes fetched, status, failure). */
  upstreamRequest?(event: UpstreamRequestEvent): void;
}

/** Calls an observer hook without letting it affect the request. */
export function notify<E>(
  logger: Logger,
  hook: ((event: E) => void) | undefined,
  event: E,
  self: RegistryObserver,
): void {
  if (!hook) return;
  try {
    hook.call(self, event);
  } catch (err) {
    logger.warn({ err }, 'observer failed');
  }
}

function elapsedSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Wraps one store so that each method call reports its duration. */
function instrumentStore<T extends object>(
  store: T,
  name: StoreName,
  report: (e: StorageOperationEvent) => void,
): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        const start = process.hrtime.bigint();
        const done = (ok: boolean) =>
          report({ store: name, operation: property, durationSeconds: elapsedSince(start), ok });
        let result: unknown;
        try {
          // The target, not the proxy, is `this`: stores keep private fields.
          result = Reflect.apply(value, target, args);
        } catch (error) {
          done(false);
          throw error;
        }
        if (result instanceof Promise) {
          return result.then(
            (resolved) => {
              done(true);
              return resolved;
            },
            (error: unknown) => {
              done(false);
              throw error;
            },
          );
        }
        done(true);
        return result;
      };
    },
  });
}

/** The storage with every store call timed, when the observer wants storage timings. */
export function instrumentStorage(
  storage: RegistryStorage,
  report: ((event: StorageOperationEvent) => void) | undefined,
): RegistryStorage {
  if (!report) return storage;
  return {
    blobs: instrumentStore(storage.blobs, 'blobs', report),
    uploads: instrumentStore(storage.uploads, 'uploads', report),
    metadata: instrumentStore(storage.metadata, 'metadata', report),
    ...(storage.events ? { events: storage.events } : {}),
  };
}

/** Counts the bytes of a request body as its consumer reads them. */
export function countingBody(body: AsyncIterable<Uint8Array> | null): {
  body: AsyncIterable<Uint8Array> | null;
  bytes: () => number;
} {
  if (!body) return { body, bytes: () => 0 };
  let bytes = 0;
  const source = body;
  return {
    body: {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of source) {
          bytes += chunk.byteLength;
          yield chunk;
        }
      },
    },
    bytes: () => bytes,
  };
}

/**
 * Calls `onEnd(bytesSent, aborted)` once the response body has been consumed completely or
 * abandoned. Node streams are watched, not wrapped, so adapters keep piping them natively.
 */
export function onResponseEnd(
  response: RegistryResponse,
  onEnd: (bytesOut: number, aborted: boolean) => void,
): void {
  const body = response.body;
  if (body == null) {
    onEnd(0, false);
    return;
  }
  if (body instanceof Uint8Array) {
    onEnd(body.byteLength, false);
    return;
  }
  if (body instanceof Readable) {
    const declared = Number(response.headers['Content-Length'] ?? Number.NaN);
    finished(body, (error) => {
      const read = (body as { bytesRead?: number }).bytesRead;
      if (!error) onEnd(Number.isFinite(declared) ? declared : (read ?? 0), false);
      else onEnd(read ?? 0, true);
    });
    return;
  }
  // A hand-written iterator rather than a generator: a generator's `finally` never runs when the
  // adapter releases the body without reading it (`return()` before the first `next()`).
  const iterator = body[Symbol.asyncIterator]();
  let sent = 0;
  let ended = false;
  const end = (aborted: boolean): void => {
    if (ended) return;
    ended = true;
    onEnd(sent, aborted);
  };
  response.body = {
    [Symbol.asyncIterator]: () => ({
      async next() {
        try {
          const result = await iterator.next();
          if (result.done) end(false);
          else sent += result.value.byteLength;
          return result;
        } catch (error) {
          end(true);
          throw error;
        }
      },
      async return(value?: unknown) {
        end(true);
        return (await iterator.return?.(value)) ?? { done: true, value: undefined };
      },
    }),
  };
}
