import { randomBytes } from 'node:crypto';
import {
  type Content,
  jsonContent,
  makeIndex,
  type TestImage,
  tarGzLayer,
  writeOciLayout,
} from '@wharf/test-utils';

/** A test image whose config also carries the diff ids (uncompressed layer digests). */
export interface RealImage extends TestImage {
  readonly architecture: string;
  readonly diffIds: readonly string[];
}

/**
 * A real image for one platform: gzip tar layers with correct diff ids, and `randomSizes[i]`
 * random bytes in layer `i` (random data does not compress, so a layer keeps its size).
 */
export function platformImage(architecture: string, randomSizes: readonly number[]): RealImage {
  const layers = randomSizes.map((size, i) =>
    tarGzLayer([
      { name: `etc/layer-${i}`, data: Buffer.from(`${architecture} layer ${i}\n`) },
      ...(size > 0 ? [{ name: `data/random-${i}.bin`, data: randomBytes(size) }] : []),
    ]),
  );
  const config = jsonContent({
    created: '2026-01-01T00:00:00Z',
    architecture,
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Labels: { 'test.nonce': randomBytes(8).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'wharf e2e tests' })),
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
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.bytes.byteLength,
    })),
  });
  return {
    architecture,
    config,
    layers: layers.map(({ bytes, digest }) => ({ bytes, digest })),
    diffIds: layers.map((l) => l.diffId),
    manifest,
    mediaType,
  };
}

/** What the e2e suites push and pull. */
export interface TestImages {
  /** Three layers, one of them ~20 MiB. Tag `v1` in the layout. */
  readonly image: RealImage;
  /** A two-platform index (linux/amd64, linux/arm64). Tag `multi` in the layout. */
  readonly index: Content & { mediaType: string };
  readonly platforms: readonly RealImage[];
}

/** Builds the test images and writes them to an OCI layout at `dir`. */
export async function writeTestImages(dir: string): Promise<TestImages> {
  const image = platformImage('amd64', [20 * 1024 * 1024, 64 * 1024, 0]);
  const platforms = [platformImage('amd64', [100_000, 0]), platformImage('arm64', [100_000, 0])];
  const index = makeIndex(
    platforms.map((p) => ({
      mediaType: p.mediaType,
      digest: p.manifest.digest,
      size: p.manifest.bytes.byteLength,
      platform: { architecture: p.architecture, os: 'linux' },
    })),
  );
  await writeOciLayout(dir, [
    { tag: 'v1', image },
    { tag: 'multi', index, images: platforms },
  ]);
  return { image, index, platforms };
}
