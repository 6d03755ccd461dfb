import { RegistryError } from '../errors.js';

/** The spec's repository name expression, anchored. */
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** The spec's tag expression, anchored (length is part of it: 1..128). */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Longest repository name accepted; clients limit `host/name` to 255 characters. */
export const MAX_NAME_LENGTH = 255;

/** True when `name` is a valid repository name. */
export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

/** Throws `NAME_INVALID` (400) unless `name` is a valid repository name. */
export function assertRepositoryName(name: string): string {
  if (!isRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', { detail: { name: name.slice(0, 512) } });
  }
  return name;
}

/** True when `tag` is a valid tag. */
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}

/** Throws `MANIFEST_INVALID` (400) unless `tag` is a valid tag: used where a tag is written. */
export function assertTag(tag: string): string {
  if (!isTag(tag)) {
    throw new RegistryError('MANIFEST_INVALID', {
      message: 'invalid tag',
      detail: { tag: tag.slice(0, 256) },
    });
  }
  return tag;
}
