import { RegistryError } from './errors.js';
import type { RegistryRequest } from './http/types.js';
import {
  type AuthDecision,
  DEFAULT_FEATURES,
  DEFAULT_LIMITS,
  type Logger,
  type RegistryAction,
  type RegistryEvent,
  type RegistryFeatures,
  type RegistryLimits,
  type RegistryOptions,
} from './options.js';
import { createMemoryStorage } from './stores/memory/index.js';
import type { RegistryStorage } from './stores/types.js';
import { LiveHashers } from './uploads/hashing.js';
import { ByteCache } from './util/byte-cache.js';

/** Everything a request handler needs: resolved options and the shared services. */
export interface RegistryContext {
  readonly storage: RegistryStorage;
  readonly limits: Readonly<RegistryLimits>;
  readonly features: Readonly<RegistryFeatures>;
  readonly logger: Logger;
  readonly redirectExpiresIn: number;
  /** Live upload hashers of this process (an optimisation; see `uploads/hashing.ts`). */
  readonly liveHashers: LiveHashers;
  /** Throws `UNAUTHORIZED` / `DENIED` unless the hook allows the action. */
  authorize(request: RegistryRequest, action: RegistryAction, repository?: string): Promise<void>;
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
  /** Delivers an event without letting the listener affect the response. */
  emit(event: RegistryEvent): void;
}

const noop = (): void => {};

/** Resolves `createRegistry` options into a {@link RegistryContext}. */
export function createContext(options: RegistryOptions): RegistryContext {
  const storage = options.storage ?? createMemoryStorage();
  const logger: Logger = {
    debug: options.logger?.debug?.bind(options.logger) ?? noop,
    info: options.logger?.info?.bind(options.logger) ?? noop,
    warn: options.logger?.warn?.bind(options.logger) ?? noop,
    error: options.logger?.error?.bind(options.logger) ?? noop,
  };
  const limits: RegistryLimits = { ...DEFAULT_LIMITS, ...options.limits };
  limits.chunkMinLength = Math.max(limits.chunkMinLength, storage.uploads.minChunkLength ?? 0);
  const features: RegistryFeatures = { ...DEFAULT_FEATURES, ...options.features };
  const hook = options.authorize;
  const onEvent = options.onEvent;

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

  return {
    storage,
    limits,
    features,
    logger,
    redirectExpiresIn: options.redirectExpiresIn ?? 900,
    liveHashers: new LiveHashers(),
    manifestBytes: new ByteCache(32 * 1024 * 1024, 1024 * 1024),
    guarded: hook !== undefined,
    async authorize(request, action, repository) {
      const decision = await decide(request, action, repository);
      if (decision === true || (typeof decision === 'object' && decision.allow)) return;
      if (decision === false) throw new RegistryError('DENIED');
      if (decision.status === 401) {
        throw new RegistryError('UNAUTHORIZED', {
          ...(decision.message ? { message: decision.message } : {}),
          headers: { 'WWW-Authenticate': decision.challenge ?? 'Basic realm="wharf"' },
        });
      }
      throw new RegistryError('DENIED', decision.message ? { message: decision.message } : {});
    },
    async allows(request, action, repository, purpose) {
      const decision = await decide(request, action, repository, purpose);
      return decision === true || (typeof decision === 'object' && decision.allow);
    },
    emit(event) {
      if (!onEvent) return;
      try {
        Promise.resolve(onEvent(event)).catch((error: unknown) =>
          logger.warn('event listener failed', { error }),
        );
      } catch (error) {
        logger.warn('event listener failed', { error });
      }
    },
  };
}
