import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  type FileSource,
  type LoadedImage,
  type LoadOptions,
  loadDockerArchive,
  loadLayout,
} from './layout.js';
import { TarArchive } from './tar.js';
import type { ContentWriter } from './writer.js';

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function archiveSource(archive: TarArchive): FileSource {
  return {
    size: async (name) => archive.size(name),
    read: (name) => archive.read(name),
    stream: (name) => archive.stream(name),
  };
}

/**
 * Stores the images of an image archive: what `docker save` writes (an OCI layout with a
 * `manifest.json` since Docker 25, or the older `manifest.json` format) and what
 * `skopeo copy … oci-archive:` writes. A gzip-compressed archive is decompressed to a temporary
 * file first, and that file is removed afterwards.
 */
export async function loadArchive(
  writer: ContentWriter,
  path: string,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  let dir: string | undefined;
  try {
    let tarPath = path;
    if (await isGzip(path)) {
      dir = await mkdtemp(join(tmpdir(), 'wharf-testing-'));
      tarPath = join(dir, 'archive.tar');
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(tarPath));
    }
    const files = archiveSource(await TarArchive.open(tarPath));
    return (await files.size('index.json')) !== undefined
      ? await loadLayout(writer, files, options)
      : await loadDockerArchive(writer, files, options);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
