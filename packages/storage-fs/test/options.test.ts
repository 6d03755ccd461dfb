import { readdir } from 'node:fs/promises';
import { isStoreError, OptionsError } from '@wharf/core';
import { createFsStorage, type FsStorageOptions } from '@wharf/storage-fs';
import { describe, expect, it } from 'vitest';

describe('createFsStorage options', () => {
  const cases: Array<[string, unknown, string]> = [
    ['an empty root', { root: '' }, 'createFsStorage: option "root" must be a non-empty path'],
    ['a blank root', { root: '  ' }, 'createFsStorage: option "root" must be a non-empty path'],
    ['no root', {}, 'createFsStorage: option "root" must be a non-empty path'],
    ['a root that is no string', { root: 42 }, 'createFsStorage: option "root" must be a non-empty path'],
    ['no options', undefined, 'createFsStorage: option "options" must be an object with a root'],
    [
      'fsync that is no boolean',
      { root: 'x', fsync: 'yes' },
      'createFsStorage: option "fsync" must be true or false',
    ],
    [
      'an fs function that is none',
      { root: 'x', fs: { open: 1 } },
      'createFsStorage: option "fs.open" must be a function',
    ],
    [
      'an unknown fs function',
      { root: 'x', fs: { openat: () => {} } },
      'createFsStorage: option "fs.openat" is not one of',
    ],
  ];
  for (const [what, options, message] of cases) {
    it(`refuses ${what} with an OptionsError, creating nothing`, async () => {
      const before = await readdir('.');
      const error = await createFsStorage(options as FsStorageOptions).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OptionsError);
      expect((error as Error).message).toContain(message);
      expect(isStoreError(error)).toBe(false);
      expect(await readdir('.')).toEqual(before);
    });
  }
});
