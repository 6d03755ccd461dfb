import { type Content, makeIndex, makeRealImage, type RealImage, writeOciLayout } from '@wharf/test-utils';

/** One platform's image with `randomSizes[i]` random bytes in layer `i`. */
export function platformImage(architecture: string, randomSizes: readonly number[]): RealImage {
  return makeRealImage(
    randomSizes.map((size) => (size > 0 ? { randomFile: size } : {})),
    { architecture },
  );
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
