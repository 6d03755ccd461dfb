/**
 * `@wharf/core`: an OCI distribution registry as a library. Create one with {@link createRegistry},
 * give it storage, and answer requests with `handle` (framework-free) or `fetch` (web standard).
 *
 * @packageDocumentation
 */

export { type Clock, systemClock } from './clock.js';
export {
  type ErrorCode,
  isRegistryError,
  OptionsError,
  RegistryError,
  type RegistryErrorOptions,
  toRegistryError,
  uploadOffsetError,
} from './errors.js';
export type { EndpointStats } from './events/dispatcher.js';
export {
  CLOUDEVENTS_BATCH_MEDIA_TYPE,
  CLOUDEVENTS_MEDIA_TYPE,
  CLOUDEVENTS_TYPE_PREFIX,
  toCloudEvent,
  type WharfCloudEvent,
} from './events/formats/cloudevents.js';
export {
  DISTRIBUTION_EVENTS_MEDIA_TYPE,
  type DistributionEvent,
  toDistributionEvents,
} from './events/formats/distribution.js';
export type {
  DeliveryReport,
  EventDelivery,
  EventEndpoint,
  EventFormat,
  EventIgnore,
  EventsOptions,
  EventTransport,
} from './events/options.js';
export type { DeadLetter } from './events/outbox.js';
export {
  createEventDispatcher,
  type EndpointProgress,
  type EventDispatcher,
  type EventDispatcherOptions,
  type PendingBatch,
} from './events/pipeline.js';
export { SIGNATURE_HEADER, signBody, verifySignature } from './events/signing.js';
export type { EventActor, EventContext, EventRequest, EventSource } from './events/types.js';
export type { CacheEviction } from './gc/cache.js';
export type { GcOptions, GcProgress, GcReport } from './gc/types.js';
export { jsonResponse } from './http/response.js';
export type {
  ManifestReference,
  RouteCall,
  RouteCallOf,
  RouteMiddleware,
  RouteName,
  RouteParams,
} from './http/route.js';
export type { HeaderLookup, RegistryRequest, RegistryResponse } from './http/types.js';
export { fromWebRequest, toWebResponse } from './http/web.js';
export {
  type ConsoleLike,
  type ConsoleLoggerOptions,
  consoleLogger,
  type LogFields,
  type Logger,
  type LogLevel,
} from './logging.js';
export type {
  RegistryObserver,
  RequestFinishedEvent,
  RequestStartedEvent,
  StorageOperationEvent,
  StoreName,
} from './observe.js';
export {
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  isDigest,
  isDigestAlgorithm,
  type ParsedDigest,
  parseDigest,
  tryParseDigest,
} from './oci/digest.js';
export { MANIFEST_MEDIA_TYPES, MediaType } from './oci/media-types.js';
export { isRepositoryName, isTag, MAX_NAME_LENGTH } from './oci/names.js';
export { referrersTag } from './oci/referrers-tag.js';
export type {
  AuthDecision,
  AuthorizeContext,
  Authorizer,
  RegistryAction,
  RegistryEvent,
  RegistryEventData,
  RegistryEventType,
  RegistryFeatures,
  RegistryLimits,
  RegistryOptions,
} from './options.js';
export { DEFAULT_FEATURES, DEFAULT_LIMITS } from './options.js';
export type {
  ProxyCacheEvent,
  ProxyContentKind,
  ProxyEvent,
  UpstreamCacheOptions,
  UpstreamCredentials,
  UpstreamCredentialsProvider,
  UpstreamOptions,
  UpstreamRequestEvent,
  UpstreamTimeouts,
} from './proxy/types.js';
export { createRegistry, type Registry } from './registry.js';
export {
  InvalidKeyError,
  isStoreError,
  OffsetMismatchError,
  StoreConflictError,
  StoreError,
  type StoreErrorKind,
  type StoreKeyKind,
  UploadNotFoundError,
} from './stores/errors.js';
export { isEventKey } from './stores/event-keys.js';
export {
  createMemoryStorage,
  MemoryBlobStore,
  MemoryEventStore,
  MemoryMetadataStore,
  type MemoryStoreOptions,
  MemoryUploadStore,
} from './stores/memory/index.js';
export { compareBytewise, pageOf } from './stores/memory/metadata-store.js';
export type {
  BlobDeleteOptions,
  BlobInfo,
  BlobLink,
  BlobOpenOptions,
  BlobPutOptions,
  BlobStore,
  ByteWindow,
  ConditionalDelete,
  EventPutOptions,
  EventStore,
  HashState,
  Leftover,
  LeftoverOptions,
  ListPage,
  ManifestRecord,
  MetadataStore,
  ReferrerDescriptor,
  RegistryStorage,
  StagedBlob,
  UploadAppendOptions,
  UploadCommitOptions,
  UploadSession,
  UploadStore,
} from './stores/types.js';
export { collectBytes } from './util/bytes.js';
export { FileBody } from './util/file-body.js';
export { FreshReads } from './util/fresh-reads.js';
export { repositoryGlob } from './util/glob.js';
export { KeyedLock } from './util/keyed-lock.js';
export { nodeStreamBody } from './util/node-stream.js';
export {
  type OptionCheck,
  type OptionChecks,
  type OptionProblem,
  optionCheck,
  validateOption,
  validateOptions,
} from './validate/checks.js';
