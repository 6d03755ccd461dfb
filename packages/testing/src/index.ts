/**
 * `@wharf/testing`: a registry to test OCI registry clients against. {@link createTestRegistry}
 * gives an in-process registry (with a loopback socket on demand) that real clients can talk to,
 * seeded with generated images or with layouts and archives, behaving like Docker Hub, ECR, GHCR
 * and others on request, failing on request, and recording every request.
 *
 * @packageDocumentation
 */

export { TestClock } from './clock.js';
export type { FaultEffect, FaultRule } from './faults/types.js';
export type { QuirkInput } from './quirks/index.js';
export { mergeQuirks } from './quirks/merge.js';
export { type ProfileName, profiles } from './quirks/profiles.js';
export type {
  BasicAuthQuirk,
  BearerAuthQuirk,
  CatalogQuirk,
  PaginationQuirk,
  QuirkProfile,
  Quirks,
} from './quirks/types.js';
export type { RecordedRequest, RequestTarget } from './recorder.js';
export {
  createTestRegistry,
  type FaultControl,
  type TestRegistry,
  type TestRegistryOptions,
} from './registry.js';
export {
  type ContentDescriptor,
  type GeneratedImage,
  type GeneratedManifest,
  type GeneratedReferrer,
  generateImage,
  type ImageDescription,
  type ImageDescriptions,
  type ReferrerDescription,
  type SeededImage,
} from './seed/describe.js';
export type { LoadedImage, LoadOptions } from './seed/layout.js';
export { SeedError } from './seed/writer.js';
