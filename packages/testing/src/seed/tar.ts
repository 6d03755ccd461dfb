import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { posix } from 'node:path';
import { SeedError } from './writer.js';

/** Where one file's bytes sit in an uncompressed tar archive. */
interface TarEntry {
  readonly offset: number;
  readonly size: number;
}

const BLOCK = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number): number {
  // GNU base-256 for sizes of 8 GiB and more.
  if ((header[start]! & 0x80) !== 0) {
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + header[i]!;
    return value;
  }
  const text = field(header, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** PAX extended header records (`<len> key=value\n`). */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.byteLength) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function normalise(name: string): string {
  return posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/\/$/, '');
}

/**
 * Read access to the files of an uncompressed tar archive on disk, as `docker save` and
 * `skopeo copy …:oci-archive:` write them (ustar, with PAX or GNU long names). Only headers are read
 * up front; files are then streamed from their offsets in whatever order they are needed.
 */
export class TarArchive {
  readonly #path: string;
  readonly #entries: ReadonlyMap<string, TarEntry>;

  private constructor(path: string, entries: ReadonlyMap<string, TarEntry>) {
    this.#path = path;
    this.#entries = entries;
  }

  static async open(path: string): Promise<TarArchive> {
    const handle = await open(path, 'r');
    try {
      return new TarArchive(path, await TarArchive.#index(handle, path));
    } finally {
      await handle.close();
    }
  }

  static async #index(handle: FileHandle, path: string): Promise<Map<string, TarEntry>> {
    const { size: fileSize } = await handle.stat();
    const entries = new Map<string, TarEntry>();
    const links = new Map<string, string>();
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    let pax = new Map<string, string>();
    const readAt = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead !== length) throw new SeedError(`${path}: truncated tar archive`);
      return buffer;
    };
    while (offset + BLOCK <= fileSize) {
      const { bytesRead } = await handle.read(header, 0, BLOCK, offset);
      if (bytesRead !== BLOCK) throw new SeedError(`${path}: truncated tar archive`);
      if (header.every((byte) => byte === 0)) break;
      if (field(header, 257, 5) !== 'ustar') throw new SeedError(`${path} is not a tar archive`);
      const type = String.fromCharCode(header[156] || 0x30);
      const size = octal(header, 124, 12);
      const dataOffset = offset + BLOCK;
      offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'L') {
        longName = (await readAt(dataOffset, size)).toString('utf8').replace(/\0+$/, '');
        continue;
      }
      if (type === 'x') {
        pax = paxRecords(await readAt(dataOffset, size));
        continue;
      }
      if (type === 'g') continue;
      const prefix = field(header, 345, 155);
      const name = normalise(
        pax.get('path') ??
          longName ??
          (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100)),
      );
      const realSize = pax.has('size') ? Number(pax.get('size')) : size;
      if (type === '0' || type === '\0' || type === '7') {
        entries.set(name, { offset: dataOffset, size: realSize });
      } else if (type === '1' || type === '2') {
        const target = pax.get('linkpath') ?? field(header, 157, 100);
        links.set(
          name,
          type === '1' ? normalise(target) : normalise(posix.join(posix.dirname(name), target)),
        );
      }
      longName = undefined;
      pax = new Map();
    }
    // Hard and symbolic links (docker save links repeated layers) resolve to their targets.
    for (const [name, target] of links) {
      let resolved = target;
      for (let hops = 0; hops < 16 && !entries.has(resolved) && links.has(resolved); hops++)
        resolved = links.get(resolved)!;
      const entry = entries.get(resolved);
      if (entry) entries.set(name, entry);
    }
    return entries;
  }

  /** The size of a file, or `undefined` when the archive has none by that name. */
  size(name: string): number | undefined {
    return this.#entries.get(normalise(name))?.size;
  }

  /** Reads a (small) file whole. */
  async read(name: string): Promise<Buffer | undefined> {
    const entry = this.#entries.get(normalise(name));
    if (!entry) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of this.stream(name)) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }

  /** Streams a file's bytes from the archive. */
  stream(name: string): AsyncIterable<Uint8Array> {
    const entry = this.#entries.get(normalise(name));
    if (!entry) throw new SeedError(`${this.#path} has no ${name}`);
    if (entry.size === 0) return (async function* () {})();
    return createReadStream(this.#path, { start: entry.offset, end: entry.offset + entry.size - 1 });
  }
}
