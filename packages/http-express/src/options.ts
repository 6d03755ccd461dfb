import { optionCheck, validateOption, validateOptions } from '@wharf/core';
import { registryCheck } from '@wharf/http-node';
import type { WharfOptions } from './middleware.js';

/** Throws an `OptionsError` naming the first argument or option of `wharf()` it cannot use. */
export function validateMiddlewareOptions(registry: unknown, options: unknown): void {
  validateOption('wharf', 'registry', registry, registryCheck);
  validateOptions<WharfOptions>('wharf', options, {
    context: optionCheck.function,
    noTransform: optionCheck.boolean,
  });
}
