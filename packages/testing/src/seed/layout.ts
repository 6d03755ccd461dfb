import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentDescriptor } from './describe.js';
import type { ContentWriter } from './writer.js';
import { SeedError } from './writer.js';

/** Files of an image layout, from a directory or an archive. */
export interface FileSource {
  /** The file's size, or `undefined` when there is none. */
  size(name: string): Promise<number | undefined>;
  read(name: string): Promise<Buffer | undefined>;
  stream(name: string): AsyncIterable<Uint8Array>;
}

/** Options for loading images from a layout or an archive. */
export interface LoadOptions {
  /**
   * The repository to store images in. Needed when the layout names only tags (skopeo's
   * `oci:`/`oci-archive:` and most OCI layouts); optional for `docker save` archives, whose
   * image names (`docker.io/library/app:v1` → `library/app`) are used otherwise.
   */
  readonly repository?: string;
}

/** An image loaded from a layout or an archive. */
export interface LoadedImage extends ContentDescriptor {
  readonly repository: string;
  /** Tags it was stored under (none for a manifest the layout lists untagged). */
  readonly tags: readonly string[];
}

/** A directory on disk as a {@link FileSource}. */
export function directorySource(root: string): FileSource {
  return {
    async size(name) {
      try {
        const info = await stat(join(root, name));
        return info.isFile() ? info.size : undefined;
      } catch {
        return undefined;
      }
    },
    async read(name) {
      try {
        return await readFile(join(root, name));
      } catch {
        return undefined;
      }
    },
    stream: (name) => createReadStream(join(root, name)),
  };
}

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size?: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

interface ManifestJson {
  readonly mediaType?: string;
  readonly manifests?: readonly Descriptor[];
  readonly config?: Descriptor;
  readonly layers?: readonly Descriptor[];
  readonly subject?: Descriptor;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

function blobPath(digest: string): string {
  const match = DIGEST.exec(digest);
  if (!match) throw new SeedError(`invalid digest ${JSON.stringify(digest)} in the layout`);
  return `blobs/${match[1]}/${match[2]}`;
}

/** `registry.example/team/app:v1` → `{ repository: 'team/app', tag: 'v1' }`; the registry host is dropped. */
export function parseImageName(name: string): { repository: string; tag: string | undefined } {
  const withoutDigest = name.split('@')[0]!;
  const slash = withoutDigest.indexOf('/');
  const first = slash < 0 ? '' : withoutDigest.slice(0, slash);
  const rest =
    first.includes('.') || first.includes(':') || first === 'localhost'
      ? withoutDigest.slice(slash + 1)
      : withoutDigest;
  const colon = rest.lastIndexOf(':');
  return colon > 0 && !rest.slice(colon + 1).includes('/')
    ? { repository: rest.slice(0, colon), tag: rest.slice(colon + 1) }
    : { repository: rest, tag: undefined };
}

/** Where an index.json entry goes: the containerd name, or the ref name as a tag of `repository`. */
function targetOf(descriptor: Descriptor, options: LoadOptions): { repository: string; tag?: string } {
  const full = descriptor.annotations?.['io.containerd.image.name'];
  const ref = descriptor.annotations?.['org.opencontainers.image.ref.name'];
  if (options.repository !== undefined) {
    const tag =
      ref && !ref.includes('/') && !ref.includes(':') ? ref : full ? parseImageName(full).tag : undefined;
    return tag ? { repository: options.repository, tag } : { repository: options.repository };
  }
  const named = full ?? (ref && (ref.includes('/') || ref.includes(':')) ? ref : undefined);
  if (named) {
    const { repository, tag } = parseImageName(named);
    return tag ? { repository, tag } : { repository };
  }
  throw new SeedError(
    `the layout names ${ref ? `only the tag ${JSON.stringify(ref)}` : 'no image'} for ${descriptor.digest}: pass a repository`,
  );
}

/**
 * Stores every image an OCI image layout lists in its `index.json` (children first, blobs streamed
 * from the layout), tagged by their `org.opencontainers.image.ref.name` or containerd name;
 * manifests with a `subject` after the others.
 */
export async function loadLayout(
  writer: ContentWriter,
  files: FileSource,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  const indexBytes = await files.read('index.json');
  if (!indexBytes) throw new SeedError('not an OCI image layout: index.json is missing');
  const index = JSON.parse(indexBytes.toString('utf8')) as ManifestJson;
  const stored = new Set<string>();

  const readManifest = async (descriptor: Descriptor): Promise<{ bytes: Buffer; manifest: ManifestJson }> => {
    const bytes = await files.read(blobPath(descriptor.digest));
    if (!bytes) throw new SeedError(`the layout lacks manifest ${descriptor.digest}`);
    return { bytes, manifest: JSON.parse(bytes.toString('utf8')) as ManifestJson };
  };

  const storeBlob = async (repository: string, descriptor: Descriptor) => {
    const path = blobPath(descriptor.digest);
    const size = await files.size(path);
    if (size === undefined) throw new SeedError(`the layout lacks blob ${descriptor.digest}`);
    await writer.blob(repository, descriptor.digest, size, () => files.stream(path));
  };

  const storeManifest = async (repository: string, descriptor: Descriptor, references: readonly string[]) => {
    const { bytes, manifest } = await readManifest(descriptor);
    const mediaType =
      descriptor.mediaType ?? manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    const key = `${repository}@${descriptor.digest}`;
    if (!stored.has(key)) {
      if (INDEX_TYPES.has(mediaType)) {
        for (const child of manifest.manifests ?? []) await storeManifest(repository, child, []);
      } else {
        for (const blob of [manifest.config, ...(manifest.layers ?? [])])
          if (blob) await storeBlob(repository, blob);
      }
    }
    for (const reference of references.length > 0 ? references : [descriptor.digest]) {
      if (reference === descriptor.digest && stored.has(key)) continue;
      await writer.manifest(repository, reference, mediaType, bytes);
    }
    stored.add(key);
    return { mediaType, digest: descriptor.digest, size: bytes.byteLength };
  };

  const entries = await Promise.all(
    (index.manifests ?? []).map(async (descriptor) => ({
      descriptor,
      target: targetOf(descriptor, options),
      hasSubject: (await readManifest(descriptor)).manifest.subject !== undefined,
    })),
  );
  const loaded: LoadedImage[] = [];
  for (const { descriptor, target } of [
    ...entries.filter((e) => !e.hasSubject),
    ...entries.filter((e) => e.hasSubject),
  ]) {
    const tags = target.tag ? [target.tag] : [];
    const stored = await storeManifest(target.repository, descriptor, tags);
    loaded.push({ ...stored, repository: target.repository, tags });
  }
  return loaded;
}

interface DockerArchiveEntry {
  readonly Config: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Layers: readonly string[];
}

async function digestOf(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Stores the images of a `docker save` archive in the format Docker wrote before it wrote OCI
 * layouts (`manifest.json`, a config file and one uncompressed tar per layer): each becomes an OCI
 * manifest over the same config and the uncompressed layers, so the layer digests are the image's
 * diff ids.
 */
export async function loadDockerArchive(
  writer: ContentWriter,
  files: FileSource,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  const manifestBytes = await files.read('manifest.json');
  if (!manifestBytes) throw new SeedError('not a docker save archive: manifest.json is missing');
  const entries = JSON.parse(manifestBytes.toString('utf8')) as DockerArchiveEntry[];
  const loaded: LoadedImage[] = [];
  for (const entry of entries) {
    const names = (entry.RepoTags ?? []).map(parseImageName);
    const repositories =
      options.repository !== undefined ? [options.repository] : [...new Set(names.map((n) => n.repository))];
    if (repositories.length === 0) throw new SeedError(`${entry.Config} has no RepoTags: pass a repository`);
    const config = await files.read(entry.Config);
    if (!config) throw new SeedError(`the archive lacks ${entry.Config}`);
    const layers: Array<{ path: string; digest: string; size: number }> = [];
    for (const path of entry.Layers) {
      const size = await files.size(path);
      if (size === undefined) throw new SeedError(`the archive lacks ${path}`);
      layers.push({ path, size, digest: await digestOf(files.stream(path)) });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${createHash('sha256').update(config).digest('hex')}`,
          size: config.byteLength,
        },
        layers: layers.map(({ digest, size }) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest,
          size,
        })),
      }),
    );
    for (const repository of repositories) {
      const parsed = JSON.parse(manifest.toString('utf8')) as { config: Descriptor };
      await writer.blob(repository, parsed.config.digest, config.byteLength, config);
      for (const layer of layers)
        await writer.blob(repository, layer.digest, layer.size, () => files.stream(layer.path));
      const tags = names
        .filter((n) => options.repository !== undefined || n.repository === repository)
        .flatMap((n) => (n.tag ? [n.tag] : []));
      let digest = '';
      for (const reference of tags.length > 0 ? tags : ['latest']) {
        digest = await writer.manifest(
          repository,
          reference,
          'application/vnd.oci.image.manifest.v1+json',
          manifest,
        );
      }
      loaded.push({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        size: manifest.byteLength,
        repository,
        tags: tags.length > 0 ? tags : ['latest'],
      });
    }
  }
  return loaded;
}
