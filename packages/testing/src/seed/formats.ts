import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A ustar header for a regular file with fixed owner and time, so archives are reproducible. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

/** A tar archive of regular files (names under 100 bytes). */
export function tarOf(files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>): Buffer {
  const parts: Buffer[] = [];
  for (const { name, data } of files) {
    parts.push(tarHeader(name, data.byteLength), Buffer.from(data));
    parts.push(Buffer.alloc((512 - (data.byteLength % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Largest payload of one stored deflate block. */
const STORED_BLOCK = 0xffff;

/**
 * gzip with stored (uncompressed) deflate blocks: valid for every gunzip, and byte-for-byte the
 * same on every Node.js and zlib version, which compressed output is not. Generated layers are
 * noise anyway; what matters is that the same description always has the same digests.
 */
export function storedGzip(data: Uint8Array): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const blocks: Buffer[] = [];
  let offset = 0;
  do {
    const length = Math.min(STORED_BLOCK, data.byteLength - offset);
    const last = offset + length >= data.byteLength;
    const block = Buffer.alloc(5);
    block[0] = last ? 1 : 0;
    block.writeUInt16LE(length, 1);
    block.writeUInt16LE(~length & 0xffff, 3);
    blocks.push(block, Buffer.from(data.subarray(offset, offset + length)));
    offset += length;
  } while (offset < data.byteLength);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.byteLength >>> 0, 4);
  return Buffer.concat([header, ...blocks, trailer]);
}
