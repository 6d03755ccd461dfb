import { referrersTag } from '@wharf/core';
import type { GeneratedImage, SeededImage } from './describe.js';
import type { ContentWriter } from './writer.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * Stores generated content: blobs, then manifests children first, the tagged manifest under each
 * of its tags, then its referrers. Without a referrers API (`referrersTagSchema`), also writes the
 * fallback tag (`sha256-<hex>`) listing them, as clients do for such registries.
 */
export async function storeGenerated(
  writer: ContentWriter,
  generated: GeneratedImage,
  options: { readonly referrersTagSchema: boolean },
): Promise<SeededImage> {
  const { image } = generated;
  for (const [digest, bytes] of generated.blobs)
    await writer.blob(image.repository, digest, bytes.byteLength, bytes);
  for (const manifest of generated.manifests) {
    const references = manifest.digest === image.digest ? image.tags : [manifest.digest];
    for (const reference of references) {
      await writer.manifest(image.repository, reference, manifest.mediaType, manifest.bytes);
    }
  }
  if (options.referrersTagSchema && image.referrers.length > 0) {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: image.referrers.map(({ mediaType, digest, size, artifactType, annotations }) => ({
          mediaType,
          digest,
          size,
          artifactType,
          annotations,
        })),
      }),
    );
    await writer.manifest(image.repository, referrersTag(image.digest), OCI_INDEX, index);
  }
  return image;
}
