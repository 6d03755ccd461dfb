import { type Clock, systemClock } from './clock.js';
import { OptionsError } from './errors.js';
import { buildDispatcher, type EventDispatcher, resolveSource } from './events/pipeline.js';
import { EventRecorder } from './events/recorder.js';
import type { RegistryEventData } from './events/types.js';
import { Writers } from './events/writers.js';
import { refusalError } from './http/refusal.js';
import type { RouteMiddleware, RouteName } from './http/route.js';
import type { RegistryRequest } from './http/types.js';
import { type Logger, resolveLogger } from './logging.js';
import { instrumentStorage, notify, type RegistryObserver } from './observe.js';
import {
  type AuthDecision,
  DEFAULT_FEATURES,
  DEFAULT_LIMITS,
  type RegistryAction,
  type RegistryEvent,
  type RegistryFeatures,
  type RegistryLimits,
  type RegistryOptions,
} from './options.js';
import { resolveUpstreams } from './proxy/config.js';
import { ProxyServices } from './proxy/services.js';
import { createMemoryStorage } from './stores/memory/index.js';
import type { RegistryStorage } from './stores/types.js';
import { LiveHashers } from './uploads/hashing.js';
import { ByteCache } from './util/byte-cache.js';
import { KeyedLock } from './util/keyed-lock.js';
import { validateRegistryOptions } from './validate/registry-options.js';

/** What is known about a request as it is handled, for logs, metrics and events. */
export interface RequestScope {
  readonly requestId: string;
  route: RouteName | undefined;
  action: RegistryAction | undefined;
  repository: string | undefined;
  user: string | undefined;
  /** The request's events, recorded before its response is returned. */
  readonly events: RegistryEvent[];
}

/** Everything a request handler needs: resolved options and the shared services. */
export interface RegistryContext {
  /** The stores, instrumented when the observer wants storage timings. */
  readonly storage: RegistryStorage;
  readonly observer: RegistryObserver;
  readonly limits: Readonly<RegistryLimits>;
  readonly features: Readonly<RegistryFeatures>;
  readonly logger: Logger;
  readonly redirectExpiresIn: number;
  /** Where the time is read (`RegistryOptions.clock`). */
  readonly clock: Clock;
  /** Live upload hashers of this process (an optimisation; see `uploads/hashing.ts`). */
  readonly liveHashers: LiveHashers;
  /**
   * Commits of uploads, one at a time per digest: a commit of content another session of this
   * process is committing waits, then finds the blob and skips assembling it again.
   */
  readonly commits: KeyedLock;
  /** The scope of a request being handled (`handle` opens it). */
  scopeOf(request: RegistryRequest): RequestScope | undefined;
  /** Opens the scope of a request; `handle` calls it once per request. */
  openScope(request: RegistryRequest, requestId: string): RequestScope;
  /** Throws `UNAUTHORIZED` / `DENIED` unless the hook allows the action; resolves the user it named. */
  authorize(
    request: RegistryRequest,
    action: RegistryAction,
    repository?: string,
  ): Promise<string | undefined>;
  /** Wrappers around every route's handling, outermost first (`RegistryOptions.middleware`). */
  readonly middleware: readonly RouteMiddleware[];
  /** Whether the hook allows a check made on behalf of another request (it degrades instead of failing). */
  allows(
    request: RegistryRequest,
    action: RegistryAction,
    repository: string,
    purpose: 'catalog' | 'mount',
  ): Promise<boolean>;
  /** Manifest bytes by digest (content-addressed, so never stale): spares a read per manifest GET. */
  readonly manifestBytes: ByteCache;
  /** Whether access control is configured (an `authorize` hook). */
  readonly guarded: boolean;
  /**
   * Reports an event. In a request's context ({@link forRequest}) it joins the request's events,
   * which `handle` records before answering; elsewhere it is recorded at once, in the background.
   */
  emit(event: RegistryEventData): void;
  /** The request's own context: the same services, with `emit` collecting into its scope. */
  forRequest(request: RegistryRequest, scope: RequestScope): RegistryContext;
  /** Stamps and publishes events (outbox, then `onEvent`). */
  readonly recorder: EventRecorder;
  /** The durable event pipeline, when endpoints are configured. */
  readonly events: EventDispatcher | undefined;
  /** The pull-through cache, when upstreams are configured. */
  readonly proxy: ProxyServices | undefined;
}

/** Resolves `createRegistry` options into a {@link RegistryContext}. */
export function createContext(options: RegistryOptions): RegistryContext {
  validateRegistryOptions(options);
  const upstreams = resolveUpstreams(options.upstreams);
  const logger: Logger = resolveLogger(options.logger);
  const observer = options.observer ?? {};
  const clock = options.clock ?? systemClock;
  const storage = instrumentStorage(
    options.storage ?? createMemoryStorage({ clock }),
    observer.storageOperation && ((event) => notify(logger, observer.storageOperation, event, observer)),
  );
  const scopes = new WeakMap<RegistryRequest, RequestScope>();
  const limits: RegistryLimits = { ...DEFAULT_LIMITS, ...options.limits };
  limits.chunkMinLength = Math.max(limits.chunkMinLength, storage.uploads.minChunkLength ?? 0);
  const features: RegistryFeatures = { ...DEFAULT_FEATURES, ...options.features };
  const hook = options.authorize;
  const eventOptions = options.events ?? {};
  const eventStore = storage.events;
  if ((eventOptions.endpoints?.length ?? 0) > 0 && !eventStore) {
    throw new OptionsError(
      'createRegistry',
      'events.endpoints',
      'need a storage with an event store (storage.events)',
    );
  }
  const writers = new Writers();
  const events =
    eventStore && (eventOptions.endpoints?.length ?? 0) > 0
      ? buildDispatcher(eventOptions, eventStore, logger, 'createRegistry', writers)
      : undefined;
  const recorder = new EventRecorder({
    source: events?.source ?? resolveSource(eventOptions.source),
    dispatcher: events,
    writers,
    onEvent: options.onEvent,
    pulls: eventOptions.pulls ?? false,
    logger,
    clock,
  });

  async function decide(
    request: RegistryRequest,
    action: RegistryAction,
    repository?: string,
    purpose?: 'catalog' | 'mount',
  ): Promise<AuthDecision> {
    if (!hook) return true;
    return hook({
      action,
      request,
      ...(repository === undefined ? {} : { repository }),
      ...(purpose === undefined ? {} : { purpose }),
    });
  }

  let proxy: ProxyServices | undefined;
  const context: RegistryContext = {
    get proxy() {
      return proxy;
    },
    storage,
    observer,
    scopeOf: (request) => scopes.get(request),
    openScope(request, requestId) {
      const scope: RequestScope = {
        requestId,
        route: undefined,
        action: undefined,
        repository: undefined,
        user: undefined,
        events: [],
      };
      scopes.set(request, scope);
      return scope;
    },
    limits,
    features,
    logger,
    redirectExpiresIn: options.redirectExpiresIn ?? 900,
    clock,
    liveHashers: new LiveHashers(clock),
    commits: new KeyedLock(),
    manifestBytes: new ByteCache(32 * 1024 * 1024, 1024 * 1024),
    guarded: hook !== undefined,
    async authorize(request, action, repository) {
      const decision = await decide(request, action, repository);
      if (decision === true) return undefined;
      if (typeof decision === 'object' && decision.allow) return decision.user;
      throw refusalError(decision, action, repository);
    },
    middleware: [...(options.middleware ?? [])],
    async allows(request, action, repository, purpose) {
      const decision = await decide(request, action, repository, purpose);
      return decision === true || (typeof decision === 'object' && decision.allow);
    },
    recorder,
    events,
    emit(data) {
      if (!recorder.active) return;
      recorder
        .publish([recorder.stamp(data)])
        .catch((err: unknown) => logger.error({ err }, 'event not recorded'));
    },
    forRequest(request, scope) {
      if (!recorder.active) return context;
      return {
        ...context,
        emit(data) {
          scope.events.push(recorder.stamp(data, { request, requestId: scope.requestId, user: scope.user }));
        },
      };
    },
  };
  if (upstreams.length > 0) proxy = new ProxyServices(context, upstreams);
  return context;
}
