import type { Logger } from '../logging.js';
import type { RegistryObserver } from '../observe.js';
import type { RegistryFeatures, RegistryLimits, RegistryOptions } from '../options.js';
import type { BlobStore, MetadataStore, UploadStore } from '../stores/types.js';
import { type OptionChecks, optionCheck, validateOptions } from './checks.js';

// The methods every store must have (the optional ones are checked where they are used).
const BLOB_METHODS = [
  'stat',
  'open',
  'put',
  'delete',
  'list',
] as const satisfies readonly (keyof BlobStore)[];
const UPLOAD_METHODS = [
  'create',
  'get',
  'append',
  'saveHashState',
  'read',
  'commit',
  'delete',
  'list',
] as const satisfies readonly (keyof UploadStore)[];
const METADATA_METHODS = [
  'linkBlob',
  'hasBlobLink',
  'unlinkBlob',
  'listBlobLinks',
  'putManifest',
  'getManifest',
  'deleteManifest',
  'listManifests',
  'putTag',
  'getTag',
  'deleteTag',
  'listTags',
  'putReferrer',
  'deleteReferrer',
  'listReferrers',
  'listRepositories',
  'hasRepository',
] as const satisfies readonly (keyof MetadataStore)[];

const size = optionCheck.integer(1, Number.MAX_SAFE_INTEGER, true);

const LIMITS: OptionChecks<RegistryLimits> = {
  manifestMaxBytes: optionCheck.integer(1),
  blobMaxBytes: size,
  chunkMaxLength: size,
  chunkMinLength: optionCheck.integer(0),
  tagsPerPush: optionCheck.integer(1),
  pageSize: optionCheck.integer(1),
};

const FEATURES: OptionChecks<RegistryFeatures> = {
  deleteManifests: optionCheck.boolean,
  deleteTags: optionCheck.boolean,
  deleteBlobs: optionCheck.boolean,
  referrers: optionCheck.boolean,
  mount: optionCheck.boolean,
  automaticMount: optionCheck.boolean,
  tagsOnPush: optionCheck.boolean,
  monolithicPost: optionCheck.boolean,
  sparseManifests: optionCheck.boolean,
  conditionalTagUpdates: optionCheck.boolean,
};

// Loggers and observers are implementations (a pino logger has many more methods): only the
// methods wharf calls are checked.
const LOGGER: OptionChecks<Logger> = {
  debug: optionCheck.function,
  info: optionCheck.function,
  warn: optionCheck.function,
  error: optionCheck.function,
};

const OBSERVER: OptionChecks<RegistryObserver> = {
  requestStarted: optionCheck.function,
  requestFinished: optionCheck.function,
  storageOperation: optionCheck.function,
  proxyCache: optionCheck.function,
  upstreamRequest: optionCheck.function,
};

const REGISTRY_OPTIONS: OptionChecks<RegistryOptions> = {
  storage: optionCheck.shape(
    {
      blobs: optionCheck.required(optionCheck.methods(BLOB_METHODS, 'a BlobStore')),
      uploads: optionCheck.required(optionCheck.methods(UPLOAD_METHODS, 'an UploadStore')),
      metadata: optionCheck.required(optionCheck.methods(METADATA_METHODS, 'a MetadataStore')),
    },
    { exact: false },
  ),
  authorize: optionCheck.function,
  limits: optionCheck.shape(LIMITS),
  features: optionCheck.shape(FEATURES),
  logger: optionCheck.shape(LOGGER, { exact: false }),
  observer: optionCheck.shape(OBSERVER, { exact: false }),
  onEvent: optionCheck.function,
  middleware: optionCheck.array(optionCheck.function),
  // Endpoints are validated in depth where the event pipeline is built (events/endpoint.ts).
  events: optionCheck.shape({}, { exact: false }),
  // Upstreams are validated in depth where the pull-through cache is built (proxy/config.ts).
  upstreams: optionCheck.array(optionCheck.shape({}, { exact: false })),
  // Seven days: the longest any S3 presigned URL may live.
  redirectExpiresIn: optionCheck.integer(1, 7 * 24 * 60 * 60),
  clock: optionCheck.methods(['now'], 'a clock'),
};

/** Throws an `OptionsError` naming the first option of `createRegistry` it cannot use. */
export function validateRegistryOptions(options: unknown): asserts options is RegistryOptions {
  validateOptions<RegistryOptions>('createRegistry', options, REGISTRY_OPTIONS);
}
