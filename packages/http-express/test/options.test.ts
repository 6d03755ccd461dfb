import { createRegistry, OptionsError, type Registry } from '@wharf/core';
import { type WharfOptions, wharf } from '@wharf/http-express';
import { describe, expect, it } from 'vitest';

describe('wharf() options', () => {
  it.each([
    [undefined, {}, 'wharf: option "registry" is required'],
    [
      { fetch: () => null },
      {},
      'wharf: option "registry" must be a registry (what createRegistry() returns) (missing handle)',
    ],
    [createRegistry(), { noTransform: 'no' }, 'wharf: option "noTransform" must be true or false (got "no")'],
    [createRegistry(), { context: {} }, 'wharf: option "context" must be a function (got an object)'],
    [
      createRegistry(),
      { path: '/v2' },
      'wharf: option "path" is not an option here (known: context, noTransform)',
    ],
  ])('refuses registry %j with options %j', (registry, options, message) => {
    const call = () => wharf(registry as Registry, options as WharfOptions);
    expect(call).toThrow(OptionsError);
    expect(call).toThrow(message);
  });

  it('accepts what its README shows', () => {
    expect(typeof wharf(createRegistry(), { noTransform: false, context: (req) => req.headers })).toBe(
      'function',
    );
  });
});
