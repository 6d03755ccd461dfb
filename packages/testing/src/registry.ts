import type { IncomingMessage } from 'node:http';
import {
  createMemoryStorage,
  createRegistry,
  fromWebRequest,
  type Registry,
  type RegistryOptions,
  type RegistryRequest,
  type RegistryResponse,
  type RegistryStorage,
  type RouteMiddleware,
  toWebResponse,
} from '@wharf/core';
import { createHandler } from '@wharf/http-node';
import { TestClock } from './clock.js';
import type { Exchange, KitEnvironment } from './environment.js';
import { networkError } from './faults/body.js';
import { FaultInjector } from './faults/engine.js';
import type { FaultRule } from './faults/types.js';
import { buildQuirks, type QuirkInput, resolveQuirks } from './quirks/index.js';
import type { Quirks } from './quirks/types.js';
import { seededRandom, seedOf } from './random.js';
import { type RecordedRequest, type RequestTarget, recordOf } from './recorder.js';
import { loadArchive } from './seed/archive.js';
import { generateImage, type ImageDescriptions, type SeededImage } from './seed/describe.js';
import { directorySource, type LoadedImage, type LoadOptions, loadLayout } from './seed/layout.js';
import { storeGenerated } from './seed/store.js';
import { ContentWriter } from './seed/writer.js';
import { Listener } from './server.js';

/** Options of {@link createTestRegistry}. */
export interface TestRegistryOptions
  extends Pick<RegistryOptions, 'authorize' | 'logger' | 'observer' | 'onEvent' | 'redirectExpiresIn'> {
  /**
   * Behave like another registry: a built-in profile's name (`'ghcr'`, `'ecr'`…), a profile or
   * quirk object, or a list of them (later ones override earlier ones).
   */
  readonly quirks?: QuirkInput | readonly QuirkInput[];
  /** Images to generate and store at creation (and again after `reset()`). */
  readonly images?: ImageDescriptions;
  /** Faults injected from the start (more can be added with `faults.add`). */
  readonly faults?: readonly FaultRule[];
  /** Seed of every random decision (fault probabilities, unsorted lists). Default 1. */
  readonly seed?: number;
  /** The clock the registry, its tokens and its rate limits read. Default: a new {@link TestClock}. */
  readonly clock?: TestClock;
  /**
   * Storage for the registry, created anew by `reset()`. Default: in-memory stores dated by
   * `clock`.
   */
  readonly storage?: (clock: TestClock) => RegistryStorage;
  /** Core feature toggles, applied over the quirks'. */
  readonly features?: RegistryOptions['features'];
  /** Core limits, applied over the quirks'. */
  readonly limits?: RegistryOptions['limits'];
  /** Your own route middleware, innermost (after the quirks and faults). */
  readonly middleware?: readonly RouteMiddleware[];
}

/** Controls the faults of a test registry. */
export interface FaultControl {
  /** Adds a rule; returns a function that removes it. */
  add(rule: FaultRule): () => void;
  /** Removes every rule. */
  clear(): void;
  /** The rules in force, with how many requests each matched and faulted. */
  list(): ReadonlyArray<{ readonly name: string; readonly matched: number; readonly injected: number }>;
}

/** An OCI registry for tests, in process, with a socket on demand. */
export interface TestRegistry {
  /**
   * `fetch` semantics, answered in process (relative URLs resolve against
   * `http://registry.local`): pass it to a client that takes a fetch implementation. Redirects are
   * followed as `fetch` follows them (`redirect: 'manual'` returns them), dropping
   * `Authorization` across origins.
   */
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
  /** Starts the loopback socket (once) and resolves its base URL, `http://127.0.0.1:<port>`. */
  url(): Promise<string>;
  /** Like {@link TestRegistry.url}, as `127.0.0.1:<port>` for clients that take a host (skopeo, docker). */
  host(): Promise<string>;
  /** Every request so far, in the order their responses were decided. */
  readonly requests: readonly RecordedRequest[];
  /** The clock; `clock.advance(ms)` ages content, tokens and rate-limit windows. */
  readonly clock: TestClock;
  readonly faults: FaultControl;
  /** The quirks in force (merged). */
  readonly quirks: Quirks;
  /** The core registry behind the quirks: `gc()`, `storage`, `handle`. */
  readonly registry: Registry;
  /** Generates and stores images, indexes and referrers from a description. */
  seed(images: ImageDescriptions): Promise<SeededImage[]>;
  /** Stores the images of an OCI image layout directory. */
  loadLayout(directory: string, options?: LoadOptions): Promise<LoadedImage[]>;
  /** Stores the images of a `docker save` or `skopeo copy … oci-archive:` tarball (gzip or not). */
  loadArchive(path: string, options?: LoadOptions): Promise<LoadedImage[]>;
  /** Creates a repository (or, under the `projects` quirk, a project) for registries that need one before a push. */
  createRepository(name: string): void;
  /**
   * Back to the start: fresh storage with the `images` of the options seeded again, the initial
   * faults with their counters and random draws from the beginning, no tokens, no recorded
   * requests. The clock is left where it is.
   */
  reset(): Promise<void>;
  /** Stops the sockets, if started. */
  close(): Promise<void>;
}

const IN_PROCESS_ORIGIN = 'http://registry.local';
const IN_PROCESS_BLOBS = 'http://blobs.registry.local';
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Creates a registry to test a registry client against: real spec behaviour from `@wharf/core`,
 * content seeded from descriptions, layouts or archives, other registries' quirks, injected faults,
 * every request recorded, and a clock moved by hand.
 *
 * @example
 * ```ts
 * const registry = await createTestRegistry({
 *   quirks: 'ghcr',
 *   images: { 'acme/app:v1': { platforms: ['linux/amd64', 'linux/arm64'], layers: 2, referrers: ['sbom'] } },
 * });
 * const res = await registry.fetch('/v2/acme/app/manifests/v1'); // 401: GHCR wants a token first
 * ```
 */
export async function createTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const clock = options.clock ?? new TestClock();
  const quirks = resolveQuirks(options.quirks);
  const seed = options.seed ?? 1;
  const newStorage = options.storage ?? ((c: TestClock) => createMemoryStorage({ clock: c }));
  const exchanges = new WeakMap<object, Exchange>();
  const created = new Set<string>();
  const requests: RecordedRequest[] = [];
  let storage = newStorage(clock);
  let inner: Registry = createRegistry({ storage, clock, logger: {} });

  const env: KitEnvironment = {
    clock,
    get storage() {
      return storage;
    },
    inner: { handle: (request) => inner.handle(request) },
    created,
    exchangeOf: (request) => (request.context ? exchanges.get(request.context as object) : undefined),
    random: (name) => seededRandom(seedOf(seed, name)),
  };
  const faults = new FaultInjector(env, options.faults);
  const built = buildQuirks(quirks, env);
  const recordRoute: RouteMiddleware = (call, next) => {
    const exchange = env.exchangeOf(call.request);
    if (exchange) {
      exchange.route = call.route;
      exchange.repository = call.params.repository;
    }
    return next();
  };
  const makeOuter = () =>
    createRegistry({
      storage,
      clock,
      logger: options.logger ?? {},
      features: { ...quirks.features, ...options.features },
      limits: { ...quirks.limits, ...options.limits },
      middleware: [recordRoute, faults.middleware(), ...built.middleware, ...(options.middleware ?? [])],
      ...(options.authorize ? { authorize: options.authorize } : {}),
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.redirectExpiresIn !== undefined ? { redirectExpiresIn: options.redirectExpiresIn } : {}),
    });
  let outer = makeOuter();

  const targetOf = (request: RegistryRequest, blobs: boolean): RequestTarget => {
    if (blobs) return 'blobs';
    const path = request.url.split('?')[0];
    return built.tokens && path === built.tokens.path ? 'token' : 'registry';
  };

  /** Every request, from either transport, goes through here. */
  async function dispatch(
    request: RegistryRequest,
    exchange: Exchange,
    blobs: boolean,
  ): Promise<RegistryResponse> {
    if (request.context) exchanges.set(request.context as object, exchange);
    const target = targetOf(request, blobs);
    const response =
      target === 'blobs'
        ? await (built.redirects?.serve(request) ?? Promise.resolve(notFound()))
        : target === 'token'
          ? built.tokens!.issue(request)
          : await outer.handle(request);
    requests.push(recordOf(requests.length, target, request, exchange, response));
    return response;
  }

  const registryListener = new Listener(
    createHandler({ handle: (request) => dispatch(request, socketExchange(request, false), false) }),
  );
  const blobListener = new Listener(
    createHandler({ handle: (request) => dispatch(request, socketExchange(request, true), true) }),
  );
  let registryOrigin = '';
  let blobOrigin = '';

  function socketExchange(request: RegistryRequest, blobs: boolean): Exchange {
    const req = request.context as IncomingMessage;
    const host = req.headers.host;
    const own = blobs ? blobOrigin : registryOrigin;
    const origin = host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? `http://${host}` : own;
    return {
      transport: 'socket',
      origin: blobs ? blobOrigin : origin,
      blobOrigin: blobs ? blobOrigin : blobOrigin || origin,
      socket: req.socket,
      faults: [],
    };
  }

  async function fetchOnce(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const blobs = url.origin === IN_PROCESS_BLOBS;
    const exchange: Exchange = {
      transport: 'fetch',
      origin: blobs ? IN_PROCESS_BLOBS : url.origin,
      blobOrigin: IN_PROCESS_BLOBS,
      faults: [],
    };
    const response = await dispatch(fromWebRequest(request), exchange, blobs);
    if (exchange.dropped) throw networkError('reset', 'request');
    const web = toWebResponse(response);
    Object.defineProperty(web, 'url', { value: request.url });
    return web;
  }

  async function kitFetch(input: Request | string | URL, init?: RequestInit): Promise<Response> {
    let request =
      input instanceof Request && init === undefined
        ? input
        : new Request(
            typeof input === 'string' && input.startsWith('/') ? `${IN_PROCESS_ORIGIN}${input}` : input,
            init,
          );
    const mode = init?.redirect ?? (input instanceof Request ? input.redirect : 'follow');
    for (let hops = 0; ; hops++) {
      const response = await fetchOnce(request);
      const location = response.headers.get('location');
      if (!REDIRECTS.has(response.status) || !location || mode === 'manual') return response;
      if (mode === 'error') throw new TypeError('fetch failed', { cause: new Error('unexpected redirect') });
      if (hops >= 20) throw new TypeError('fetch failed', { cause: new Error('redirect count exceeded') });
      await response.body?.cancel();
      const target = new URL(location, request.url);
      const headers = new Headers(request.headers);
      if (target.origin !== new URL(request.url).origin) headers.delete('authorization');
      const method = response.status === 303 && request.method !== 'HEAD' ? 'GET' : request.method;
      request = new Request(target, { method, headers, redirect: 'manual', signal: request.signal });
    }
  }

  const writer = () => new ContentWriter(env.inner);
  const seedImages = async (images: ImageDescriptions) => {
    const seeded: SeededImage[] = [];
    for (const [key, description] of Object.entries(images)) {
      seeded.push(
        await storeGenerated(writer(), generateImage(key, description), {
          referrersTagSchema: quirks.referrers === 'unsupported',
        }),
      );
    }
    return seeded;
  };
  if (options.images) await seedImages(options.images);

  const url = async () => {
    registryOrigin = await registryListener.start();
    if (built.redirects) blobOrigin = await blobListener.start();
    return registryOrigin;
  };

  return {
    fetch: kitFetch,
    url,
    host: async () => new URL(await url()).host,
    requests,
    clock,
    faults: {
      add: (rule) => faults.add(rule),
      clear: () => faults.clear(),
      list: () => faults.list(),
    },
    quirks,
    get registry() {
      return outer;
    },
    seed: seedImages,
    loadLayout: (directory, loadOptions) => loadLayout(writer(), directorySource(directory), loadOptions),
    loadArchive: (path, loadOptions) => loadArchive(writer(), path, loadOptions),
    createRepository(name) {
      created.add(name);
    },
    async reset() {
      storage = newStorage(clock);
      inner = createRegistry({ storage, clock, logger: {} });
      outer = makeOuter();
      requests.length = 0;
      created.clear();
      faults.reset();
      built.reset();
      if (options.images) await seedImages(options.images);
    },
    async close() {
      await Promise.all([registryListener.close(), blobListener.close()]);
    },
  };
}

function notFound(): RegistryResponse {
  return { status: 404, headers: { 'Content-Length': '0' }, body: null };
}
