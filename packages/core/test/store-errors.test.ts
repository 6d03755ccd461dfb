import {
  InvalidKeyError,
  isStoreError,
  OffsetMismatchError,
  StoreConflictError,
  toRegistryError,
  UploadNotFoundError,
} from '@wharf/core';
import { describe, expect, it } from 'vitest';

describe('store errors become the spec codes in one place', () => {
  it('maps an offset mismatch to 416 BLOB_UPLOAD_INVALID with the current Range', () => {
    const error = toRegistryError(new OffsetMismatchError(10));
    expect(error.status).toBe(416);
    expect(error.code).toBe('BLOB_UPLOAD_INVALID');
    expect(error.headers.Range).toBe('0-9');
    expect(toRegistryError(new OffsetMismatchError(0)).headers.Range).toBe('0-0');
  });

  it('maps a missing session to 404 BLOB_UPLOAD_UNKNOWN', () => {
    const error = toRegistryError(new UploadNotFoundError('abc'));
    expect([error.status, error.code]).toEqual([404, 'BLOB_UPLOAD_UNKNOWN']);
  });

  it('maps invalid keys to the code of what they were meant to be', () => {
    const codes = (['repository', 'digest', 'tag', 'upload'] as const).map((kind) => {
      const error = toRegistryError(new InvalidKeyError(kind, 'x/../y'));
      return [error.status, error.code];
    });
    expect(codes).toEqual([
      [400, 'NAME_INVALID'],
      [400, 'DIGEST_INVALID'],
      [400, 'MANIFEST_INVALID'],
      [404, 'BLOB_UPLOAD_UNKNOWN'],
    ]);
  });

  it('maps a lost conditional write to a retryable 503', () => {
    const error = toRegistryError(new StoreConflictError('lost'));
    expect(error.status).toBe(503);
    expect(error.headers['Retry-After']).toBe('1');
  });

  it('recognises store errors from another copy of the package by name and kind', () => {
    const foreign = Object.assign(new Error('moved'), {
      name: 'OffsetMismatchError',
      kind: 'offset-mismatch',
      currentSize: 3,
    });
    expect(isStoreError(foreign, 'offset-mismatch')).toBe(true);
    expect(isStoreError(foreign, 'upload-not-found')).toBe(false);
    expect(toRegistryError(foreign).headers.Range).toBe('0-2');
    expect(isStoreError(Object.assign(new Error('x'), { kind: 'offset-mismatch' }))).toBe(false);
  });
});
