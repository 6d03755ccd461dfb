import {
  createMemoryStorage,
  createRegistry,
  OptionsError,
  optionCheck,
  type RegistryOptions,
  validateOptions,
} from '@wharf/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';

/** The OptionsError `createRegistry` throws for `options`. */
function refusal(options: unknown): OptionsError {
  try {
    createRegistry(options as RegistryOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(OptionsError);
    return error as OptionsError;
  }
  throw new Error('createRegistry accepted the options');
}

describe('createRegistry options', () => {
  it.each([
    [{ storage: {} }, 'storage.blobs', 'createRegistry: option "storage.blobs" is required'],
    [
      { storage: { ...createMemoryStorage(), uploads: { get: () => null } } },
      'storage.uploads',
      'createRegistry: option "storage.uploads" must be an UploadStore (missing create, append, saveHashState, read, commit, delete, list)',
    ],
    [{ storage: null }, 'storage', 'createRegistry: option "storage" must be an object (got null)'],
    [
      { limits: { pageSize: 0 } },
      'limits.pageSize',
      'createRegistry: option "limits.pageSize" must be a whole number ≥ 1 (got 0)',
    ],
    [
      { limits: { blobMaxBytes: '1g' } },
      'limits.blobMaxBytes',
      'createRegistry: option "limits.blobMaxBytes" must be a whole number ≥ 1 (or Infinity) (got "1g")',
    ],
    [{ limits: { pagesize: 10 } }, 'limits.pagesize', undefined],
    [{ features: { referrers: 'yes' } }, 'features.referrers', undefined],
    [{ authorise: () => true }, 'authorise', undefined],
    [{ authorize: true }, 'authorize', 'createRegistry: option "authorize" must be a function (got true)'],
    [{ logger: { error: 'stderr' } }, 'logger.error', undefined],
    [{ observer: { requestFinished: 1 } }, 'observer.requestFinished', undefined],
    [{ onEvent: {} }, 'onEvent', undefined],
    [{ redirectExpiresIn: 0 }, 'redirectExpiresIn', undefined],
    [{ redirectExpiresIn: 8 * 24 * 3600 }, 'redirectExpiresIn', undefined],
    ['fast', 'options', 'createRegistry: option "options" must be an object (got "fast")'],
  ])('refuses %j, naming %s', (options, option, message) => {
    const error = refusal(options);
    expect(error.factory).toBe('createRegistry');
    expect(error.option).toBe(option);
    expect(error.message).toMatch(
      new RegExp(`^createRegistry: option "${option.replace(/[.[\]]/g, '\\$&')}" `),
    );
    if (message) expect(error.message).toBe(message);
  });

  it('lists the known options for a misspelt one', () => {
    expect(refusal({ limits: { pagesize: 10 } }).message).toContain('known: manifestMaxBytes, blobMaxBytes');
  });

  it('accepts every documented option, pino loggers and stores with extra members', () => {
    const storage = { ...createMemoryStorage(), close: async () => {}, root: '/tmp/x' };
    const registry = createRegistry({
      storage,
      authorize: () => true,
      limits: {
        manifestMaxBytes: 1024,
        blobMaxBytes: Number.POSITIVE_INFINITY,
        chunkMinLength: 0,
        pageSize: 5,
      },
      features: { referrers: false, sparseManifests: true },
      logger: pino({ level: 'silent' }),
      observer: { requestFinished: () => {} },
      onEvent: () => {},
      redirectExpiresIn: 60,
    });
    expect(registry.storage.blobs).toBeDefined();
    expect(createRegistry().storage.blobs).toBeDefined();
  });
});

describe('validateOptions', () => {
  interface Options {
    readonly size?: number;
    readonly nested?: { readonly list?: readonly string[] };
  }
  const checks = {
    size: optionCheck.required(optionCheck.integer(1, 10)),
    nested: optionCheck.shape({ list: optionCheck.array(optionCheck.text) }),
  };

  it('names nested options and array items', () => {
    expect(() => validateOptions<Options>('make', { size: 3, nested: { list: ['a', ''] } }, checks)).toThrow(
      'make: option "nested.list[1]" must be a non-empty string (got "")',
    );
    expect(() => validateOptions<Options>('make', {}, checks)).toThrow('make: option "size" is required');
    expect(() => validateOptions<Options>('make', { size: 11 }, checks)).toThrow(
      'make: option "size" must be a whole number from 1 to 10 (got 11)',
    );
    expect(() =>
      validateOptions<Options>('make', { size: 1, nested: { list: ['a'] } }, checks),
    ).not.toThrow();
  });
});
