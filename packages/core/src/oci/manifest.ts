import { z } from 'zod';
import { RegistryError } from '../errors.js';
import type { ReferrerDescriptor } from '../stores/types.js';
import { matchesDigestGrammar, tryParseDigest } from './digest.js';
import { essence, MediaType } from './media-types.js';

/** RFC 6838 type/subtype, optionally with parameters. */
const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;.*)?$/;

const mediaTypeField = z.string().regex(MEDIA_TYPE, 'not an RFC 6838 media type');
const annotations = z.record(z.string(), z.string());

const descriptor = z.object({
  mediaType: mediaTypeField,
  digest: z.string().refine(matchesDigestGrammar, 'not a valid digest'),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')
    .optional(),
  artifactType: mediaTypeField.optional(),
  platform: z
    .object({
      architecture: z.string(),
      os: z.string(),
      'os.version': z.string().optional(),
      'os.features': z.array(z.string()).optional(),
      variant: z.string().optional(),
      features: z.array(z.string()).optional(),
    })
    .optional(),
});

/** A content descriptor (image-spec `descriptor.md`). */
export type Descriptor = z.infer<typeof descriptor>;

const schemaVersion2 = z.literal(2);

const ociManifest = z.object({
  schemaVersion: schemaVersion2,
  mediaType: z.literal(MediaType.OciManifest).optional(),
  artifactType: mediaTypeField.optional(),
  config: descriptor,
  layers: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

const ociIndex = z.object({
  schemaVersion: schemaVersion2,
  mediaType: z.literal(MediaType.OciIndex).optional(),
  artifactType: mediaTypeField.optional(),
  manifests: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

const dockerManifest = z.object({
  schemaVersion: schemaVersion2,
  mediaType: z.literal(MediaType.DockerManifest),
  config: descriptor,
  layers: z.array(descriptor),
});

const dockerManifestList = z.object({
  schemaVersion: schemaVersion2,
  mediaType: z.literal(MediaType.DockerManifestList),
  manifests: z.array(descriptor),
});

/** What core needs to know about a manifest it accepted. */
export interface ParsedManifest {
  /** The manifest's media type (what GET answers as `Content-Type`). */
  readonly mediaType: string;
  /** Blobs it references (config and layers of an image manifest). */
  readonly blobs: readonly Descriptor[];
  /** Manifests it references (children of an index or manifest list). */
  readonly manifests: readonly Descriptor[];
  /** The `subject` descriptor, for the referrers API. */
  readonly subject?: Descriptor;
  /** `artifactType`, or the config media type of an image manifest (the referrers rule). */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { message, ...(detail === undefined ? {} : { detail }) });
}

/** The media types a manifest body without a `mediaType` field may have, judged by its shape. */
function typesOfShape(document: Record<string, unknown>): string[] {
  const types: string[] = [];
  if (Array.isArray(document.manifests)) types.push(MediaType.OciIndex);
  if (document.config !== undefined || Array.isArray(document.layers)) types.push(MediaType.OciManifest);
  return types;
}

/**
 * The media type of a pushed manifest: its `mediaType` field, which the request's `Content-Type`
 * must name (parameters aside), or, for a body without one, the `Content-Type` when the body's shape
 * allows it. A mismatch is `MANIFEST_INVALID`: a manifest must not be stored as one type and served
 * to clients that trust `Content-Type` as another (CVE-2021-41190).
 */
function resolveMediaType(document: Record<string, unknown>, contentType: string): string {
  const declared = typeof document.mediaType === 'string' ? document.mediaType : undefined;
  const header = essence(contentType);
  if (declared !== undefined) {
    if (header !== declared.toLowerCase()) {
      throw invalid('Content-Type does not match the manifest mediaType', {
        contentType: contentType.slice(0, 256),
        mediaType: declared.slice(0, 256),
      });
    }
    return declared;
  }
  const allowed = typesOfShape(document);
  if (allowed.length === 0) throw invalid('cannot determine the manifest media type');
  if (!allowed.includes(header)) {
    throw invalid('Content-Type is not a media type this manifest can have', {
      contentType: contentType.slice(0, 256),
      allowed,
    });
  }
  return header;
}

/**
 * Validates a pushed manifest (OCI image manifest or index, Docker schema 2 manifest or manifest
 * list) and extracts its references. Throws `MANIFEST_INVALID` for anything else.
 */
export function parseManifest(bytes: Uint8Array, contentType: string): ParsedManifest {
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('manifest is not valid UTF-8 JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw invalid('manifest is not a JSON object');
  }
  const mediaType = resolveMediaType(document as Record<string, unknown>, contentType);
  switch (mediaType) {
    case MediaType.OciManifest: {
      const m = validate(ociManifest, document);
      // The referrers rule: a missing artifactType falls back to the config media type.
      const artifactType = m.artifactType ?? m.config.mediaType;
      return {
        mediaType,
        blobs: [m.config, ...m.layers],
        manifests: [],
        ...(m.subject ? { subject: m.subject } : {}),
        artifactType,
        ...(m.annotations ? { annotations: m.annotations } : {}),
      };
    }
    case MediaType.OciIndex: {
      const m = validate(ociIndex, document);
      return {
        mediaType,
        blobs: [],
        manifests: m.manifests,
        ...(m.subject ? { subject: m.subject } : {}),
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      };
    }
    case MediaType.DockerManifest: {
      const m = validate(dockerManifest, document);
      return { mediaType, blobs: [m.config, ...m.layers], manifests: [] };
    }
    case MediaType.DockerManifestList: {
      const m = validate(dockerManifestList, document);
      return { mediaType, blobs: [], manifests: m.manifests };
    }
    case MediaType.DockerSchema1:
    case MediaType.DockerSchema1Signed:
      throw invalid('Docker schema 1 manifests are not supported');
    default:
      throw invalid(`unsupported manifest media type ${JSON.stringify(mediaType.slice(0, 256))}`);
  }
}

function validate<T>(schema: z.ZodType<T>, document: unknown): T {
  const result = schema.safeParse(document);
  if (!result.success) {
    throw invalid(
      'manifest does not match its schema',
      result.error.issues
        .slice(0, 10)
        .map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    );
  }
  return result.data;
}

/** The descriptor the referrers API lists for a manifest with a `subject`. */
export function referrerDescriptor(
  manifest: ParsedManifest,
  digest: string,
  size: number,
): ReferrerDescriptor {
  return {
    mediaType: manifest.mediaType,
    digest,
    size,
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  };
}

/**
 * The media type of a stored manifest whose record lacks one (a storage tree written by another
 * registry): its `mediaType` field, or its shape.
 */
export function sniffManifestMediaType(bytes: Uint8Array): string {
  try {
    const document = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (typeof document.mediaType === 'string') return document.mediaType;
    if (Array.isArray(document.manifests)) return MediaType.OciIndex;
    if (document.schemaVersion === 1) return MediaType.DockerSchema1Signed;
  } catch {
    // fall through
  }
  return MediaType.OciManifest;
}

/** Every digest a stored manifest refers to, read leniently (garbage collection must never miss one). */
export interface ManifestReferences {
  readonly blobs: readonly string[];
  readonly manifests: readonly string[];
}

/**
 * The blobs and child manifests a stored manifest references, whatever its type: configs, layers,
 * index entries and schema 1 `fsLayers`. Unparseable bytes reference nothing.
 */
export function manifestReferences(bytes: Uint8Array): ManifestReferences {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { blobs: [], manifests: [] };
  }
  const doc = (typeof document === 'object' && document !== null ? document : {}) as Record<string, unknown>;
  const digestsOf = (list: unknown, key = 'digest'): string[] =>
    Array.isArray(list)
      ? list.flatMap((entry) => {
          const value = (entry as Record<string, unknown> | null)?.[key];
          return typeof value === 'string' ? [value] : [];
        })
      : [];
  const config = (doc.config as Record<string, unknown> | undefined)?.digest;
  return {
    blobs: [
      ...(typeof config === 'string' ? [config] : []),
      ...digestsOf(doc.layers),
      ...digestsOf(doc.fsLayers, 'blobSum'),
    ],
    manifests: digestsOf(doc.manifests),
  };
}

/** The valid `subject` digest of a stored manifest, if it has one. */
export function manifestSubject(bytes: Uint8Array): string | undefined {
  try {
    const subject = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { subject?: { digest?: unknown } })
      .subject;
    return typeof subject?.digest === 'string' && tryParseDigest(subject.digest) ? subject.digest : undefined;
  } catch {
    return undefined;
  }
}
