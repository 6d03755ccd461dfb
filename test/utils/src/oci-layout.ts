import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Content, jsonContent, sha256, type TestImage } from './image.js';

/** A file to put in a layer. */
export interface LayerFile {
  readonly name: string;
  readonly data: Uint8Array;
  readonly mode?: number;
}

function tarHeader(name: string, size: number, mode: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'ascii');
  header.write('0000000\0', 108, 'ascii'); // uid
  header.write('0000000\0', 116, 'ascii'); // gid
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write(`${(0).toString(8).padStart(11, '0')}\0`, 136, 'ascii'); // mtime: reproducible
  header.write('        ', 148, 'ascii'); // checksum placeholder
  header.write('0', 156, 'ascii'); // regular file
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

/** A gzip-compressed tar layer of `files`, with its digest and diff id (digest of the tar). */
export function tarGzLayer(files: readonly LayerFile[]): Content & { diffId: string } {
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(tarHeader(file.name, file.data.byteLength, file.mode ?? 0o644), Buffer.from(file.data));
    const pad = (512 - (file.data.byteLength % 512)) % 512;
    parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  const tar = Buffer.concat(parts);
  const bytes = gzipSync(tar, { level: 1 });
  return { bytes, digest: sha256(bytes), diffId: sha256(tar) };
}

/** A real image: {@link TestImage} plus its platform and the diff ids (uncompressed layer digests). */
export interface RealImage extends TestImage {
  readonly architecture: string;
  readonly diffIds: readonly string[];
}

/**
 * A real, runnable-shaped OCI image: gzip tar layers with correct diff ids in the config.
 * `layers` lists each layer's files; `randomFile` adds a file of that many random bytes (random data
 * does not compress, so the layer keeps its size).
 */
export function makeRealImage(
  layers: ReadonlyArray<{ files?: readonly LayerFile[]; randomFile?: number }>,
  options: { readonly architecture?: string } = {},
): RealImage {
  const architecture = options.architecture ?? 'amd64';
  const built = layers.map((layer, i) =>
    tarGzLayer([
      ...(layer.files ?? []),
      ...(layer.randomFile ? [{ name: `random-${i}.bin`, data: randomBytes(layer.randomFile) }] : []),
      {
        name: `layer-${i}.txt`,
        data: Buffer.from(`${architecture} layer ${i} ${randomBytes(4).toString('hex')}\n`),
      },
    ]),
  );
  const config = jsonContent({
    created: '2026-01-01T00:00:00Z',
    architecture,
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
    history: built.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'wharf tests' })),
  });
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = jsonContent({
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: config.digest,
      size: config.bytes.byteLength,
    },
    layers: built.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.bytes.byteLength,
    })),
  });
  return {
    architecture,
    config,
    layers: built.map(({ bytes, digest }) => ({ bytes, digest })),
    diffIds: built.map((l) => l.diffId),
    manifest,
    mediaType,
  };
}

/** Something to write into an OCI layout: an image, or an index over images. */
export type LayoutEntry =
  | { readonly tag: string; readonly image: TestImage }
  | {
      readonly tag: string;
      readonly index: Content & { mediaType: string };
      readonly images: readonly TestImage[];
    };

async function writeBlob(dir: string, content: Content): Promise<void> {
  const hex = content.digest.slice('sha256:'.length);
  await writeFile(join(dir, 'blobs', 'sha256', hex), content.bytes);
}

/** Writes an OCI image layout (`oci:<dir>:<tag>` for skopeo). */
export async function writeOciLayout(dir: string, entries: readonly LayoutEntry[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests: object[] = [];
  for (const entry of entries) {
    const images = 'image' in entry ? [entry.image] : entry.images;
    for (const image of images) {
      for (const blob of [image.config, ...image.layers, image.manifest]) await writeBlob(dir, blob);
    }
    const top =
      'image' in entry ? { ...entry.image.manifest, mediaType: entry.image.mediaType } : entry.index;
    if ('index' in entry) await writeBlob(dir, entry.index);
    manifests.push({
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.bytes.byteLength,
      annotations: { 'org.opencontainers.image.ref.name': entry.tag },
    });
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

/** The manifest digest an OCI layout has under a tag. */
export async function layoutDigest(dir: string, tag: string): Promise<string | undefined> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
  };
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)?.digest;
}

/** Reads a blob of an OCI layout. */
export async function layoutBlob(dir: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(join(dir, 'blobs', ...digest.split(':')));
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest)
    throw new Error(`corrupt blob ${digest}`);
  return bytes;
}
