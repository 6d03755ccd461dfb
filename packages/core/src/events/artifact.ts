import type { ParsedManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';

/** Config media types of plain images: not an artifact type worth reporting. */
const IMAGE_CONFIGS = new Set<string>([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/**
 * The artifact type a `manifest.pushed` event reports: the manifest's `artifactType`, else the
 * media type of a config that is not a plain image's. Taken from the manifest the handler has just
 * parsed, so recording the event reads nothing back from storage.
 */
export function eventArtifactType(manifest: ParsedManifest): string | undefined {
  const type =
    manifest.artifactType ??
    (manifest.mediaType === MediaType.DockerManifest ? manifest.blobs[0]?.mediaType : undefined);
  return type === undefined || IMAGE_CONFIGS.has(type) ? undefined : type;
}
