import { createRegistry, OptionsError, type Registry } from '@wharf/core';
import { createHandler, type NodeHandlerOptions } from '@wharf/http-node';
import { describe, expect, it } from 'vitest';

describe('createHandler options', () => {
  it.each([
    [undefined, {}, 'createHandler: option "registry" is required'],
    [
      {},
      {},
      'createHandler: option "registry" must be a registry (what createRegistry() returns) (missing handle)',
    ],
    [
      'registry',
      {},
      'createHandler: option "registry" must be a registry (what createRegistry() returns) (got "registry")',
    ],
    [createRegistry(), { context: 'req' }, 'createHandler: option "context" must be a function (got "req")'],
    [
      createRegistry(),
      { contxt: () => 1 },
      'createHandler: option "contxt" is not an option here (known: context)',
    ],
    [createRegistry(), null, 'createHandler: option "options" must be an object (got null)'],
  ])('refuses registry %j with options %j', (registry, options, message) => {
    const call = () => createHandler(registry as Registry, options as NodeHandlerOptions);
    expect(call).toThrow(OptionsError);
    expect(call).toThrow(message);
  });

  it('accepts a registry, or anything with handle, and a context function', () => {
    expect(typeof createHandler(createRegistry(), { context: (req) => req.headers })).toBe('function');
    expect(typeof createHandler({ handle: createRegistry().handle })).toBe('function');
  });
});
