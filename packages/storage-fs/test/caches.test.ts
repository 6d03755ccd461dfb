import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { createFsStorage, type FsOperations, type FsStorage } from '@wharf/storage-fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir, v2 } from './helpers.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

/** Longer than the time after which a file's stamp may key a cache entry. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1100));

/**
 * Tags and manifest media types are cached per process, keyed by their link file's stamp (inode,
 * size, times): whatever another process (or distribution) changes is seen at once.
 */
describe('caches of the metadata store (fs)', () => {
  let work: { dir: string; remove: () => Promise<void> };
  let reader: FsStorage;
  let writer: FsStorage;
  /** Files the reader opened. */
  const reads: string[] = [];

  beforeEach(async () => {
    work = await tempDir('caches');
    reads.length = 0;
    const counting: Partial<FsOperations> = {
      open: (async (path: Parameters<typeof fsp.open>[0], ...rest: [string?, number?]) => {
        reads.push(String(path));
        return fsp.open(path, ...rest);
      }) as typeof fsp.open,
    };
    reader = await createFsStorage({ root: work.dir, fs: counting });
    writer = await createFsStorage({ root: work.dir });
  });

  afterEach(async () => {
    await reader.close();
    await writer.close();
    await work.remove();
  });

  it('serve a settled tag and media type from memory, and see every change made elsewhere', async () => {
    const { metadata } = writer;
    await metadata.putManifest('app', { digest: D1, mediaType: OCI });
    await metadata.putManifest('app', { digest: D2, mediaType: OCI });
    await metadata.putTag('app', 'v1', D1);
    await settle();
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);
    expect((await reader.metadata.getManifest('app', D1))?.mediaType).toBe(OCI);
    reads.length = 0;
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);
    expect((await reader.metadata.getManifest('app', D1))?.mediaType).toBe(OCI);
    // Only stats: neither the tag link nor the media type file was opened again.
    expect(reads).toEqual([]);

    // Another process moves the tag and changes the media type: seen at once.
    await metadata.putTag('app', 'v1', D2);
    await metadata.putManifest('app', { digest: D1, mediaType: DOCKER });
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D2);
    expect((await reader.metadata.getManifest('app', D1))?.mediaType).toBe(DOCKER);

    // distribution rewrites a link in place (same inode, same length): seen at once too.
    await settle();
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D2);
    const current = join(v2(work.dir), 'repositories', 'app', '_manifests', 'tags', 'v1', 'current', 'link');
    const before = await fsp.stat(current);
    await fsp.writeFile(current, D1);
    expect((await fsp.stat(current)).ino).toBe(before.ino);
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);

    // Deleted elsewhere: gone here.
    expect(await metadata.deleteTag('app', 'v1')).toBe(true);
    expect(await metadata.deleteManifest('app', D1)).toBe(true);
    expect(await reader.metadata.getTag('app', 'v1')).toBeNull();
    expect(await reader.metadata.getManifest('app', D1)).toBeNull();
    // And written again with other values.
    await metadata.putManifest('app', { digest: D1, mediaType: OCI });
    await metadata.putTag('app', 'v1', D1);
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);
    expect((await reader.metadata.getManifest('app', D1))?.mediaType).toBe(OCI);
  });

  it('do not cache what was written a moment ago', async () => {
    // Within one clock tick a rewrite could keep the times: fresh files are always read.
    await writer.metadata.putTag('app', 'v1', D1);
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);
    reads.length = 0;
    expect(await reader.metadata.getTag('app', 'v1')).toBe(D1);
    expect(reads.some((path) => path.endsWith(join('current', 'link')))).toBe(true);
  });
});
