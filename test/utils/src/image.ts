import { createHash, randomBytes } from 'node:crypto';

/** Bytes with their digest. */
export interface Content {
  readonly bytes: Buffer;
  readonly digest: string;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

/** Random bytes of a given size, with their sha256 digest. */
export function randomContent(size: number): Content {
  const bytes = randomBytes(size);
  return { bytes, digest: sha256(bytes) };
}

/** JSON bytes (as a client would send them) with their digest. */
export function jsonContent(value: unknown): Content {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, digest: sha256(bytes) };
}

/** A test image: config, layers and an OCI image manifest referencing them. */
export interface TestImage {
  readonly config: Content;
  readonly layers: readonly Content[];
  readonly manifest: Content;
  readonly mediaType: string;
}

/** Options of {@link makeImage}. */
export interface MakeImageOptions {
  /** Layer sizes in bytes; default one 1 KiB layer. */
  readonly layers?: readonly number[];
  /** Manifest media type: OCI (default) or Docker schema 2. */
  readonly docker?: boolean;
  /** A `subject` descriptor (makes the manifest a referrer). */
  readonly subject?: { readonly digest: string; readonly size: number; readonly mediaType: string };
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Distinguishes otherwise identical configs. */
  readonly label?: string;
}

/** Builds a random image (the blobs still have to be pushed). */
export function makeImage(options: MakeImageOptions = {}): TestImage {
  const docker = options.docker ?? false;
  const layers = (options.layers ?? [1024]).map(randomContent);
  const config = jsonContent({
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'test.label': options.label ?? randomBytes(8).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const mediaType = docker
    ? 'application/vnd.docker.distribution.manifest.v2+json'
    : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = jsonContent({
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
    config: {
      mediaType: docker
        ? 'application/vnd.docker.container.image.v1+json'
        : 'application/vnd.oci.image.config.v1+json',
      digest: config.digest,
      size: config.bytes.byteLength,
    },
    layers: layers.map((l) => ({
      mediaType: docker
        ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
        : 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.bytes.byteLength,
    })),
    ...(options.subject ? { subject: options.subject } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  });
  return { config, layers, manifest, mediaType };
}

/** An OCI index over manifests. */
export function makeIndex(
  manifests: ReadonlyArray<{
    digest: string;
    size: number;
    mediaType: string;
    platform?: object;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>,
  extra: Record<string, unknown> = {},
): Content & { mediaType: string } {
  const mediaType = 'application/vnd.oci.image.index.v1+json';
  return { ...jsonContent({ schemaVersion: 2, mediaType, manifests, ...extra }), mediaType };
}
