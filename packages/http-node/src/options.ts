import { optionCheck, validateOption, validateOptions } from '@wharf/core';
import type { NodeHandlerOptions } from './handler.js';

/**
 * What a registry argument must be: anything with `handle` (a `createRegistry()` result).
 *
 * @internal Shared with `@wharf/http-express`; not covered by semver.
 */
export const registryCheck = optionCheck.required(
  optionCheck.methods(['handle'], 'a registry (what createRegistry() returns)'),
);

/** Throws an `OptionsError` naming the first argument or option of `createHandler` it cannot use. */
export function validateHandlerOptions(registry: unknown, options: unknown): void {
  validateOption('createHandler', 'registry', registry, registryCheck);
  validateOptions<NodeHandlerOptions>('createHandler', options, { context: optionCheck.function });
}
