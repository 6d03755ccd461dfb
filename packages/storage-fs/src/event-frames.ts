import { createHash } from 'node:crypto';

/*
 * The frames of the event log's segments (event-log.ts): magic u32 · key length u16 · value length
 * u32 · checksum u32 (the first four bytes of the sha256 of key and value) · key (UTF-8) · value.
 * The checksum tells a complete frame from one still being written or cut short by a crash.
 */

const MAGIC = 0x5745_4c31; // "WEL1"
const HEADER = 14;
const MAX_KEY = 0xffff;

/** One record found in a segment: its key, and where its value lies in the bytes decoded. */
export interface DecodedFrame {
  readonly key: string;
  readonly offset: number;
  readonly length: number;
}

/** A record as one frame. */
export function encodeFrame(key: string, value: Uint8Array): Buffer {
  const keyBytes = Buffer.from(key);
  if (keyBytes.byteLength > MAX_KEY) throw new RangeError('event key too long');
  const frame = Buffer.allocUnsafe(HEADER + keyBytes.byteLength + value.byteLength);
  frame.writeUInt32BE(MAGIC, 0);
  frame.writeUInt16BE(keyBytes.byteLength, 4);
  frame.writeUInt32BE(value.byteLength, 6);
  checksum(keyBytes, value).copy(frame, 10);
  keyBytes.copy(frame, HEADER);
  frame.set(value, HEADER + keyBytes.byteLength);
  return frame;
}

/** Where the value lies in a frame made by {@link encodeFrame}. */
export function frameValue(frame: Buffer): { offset: number; length: number } {
  const length = frame.readUInt32BE(6);
  return { offset: frame.byteLength - length, length };
}

/**
 * The complete frames at the start of `bytes`, up to the first incomplete or damaged one, and how
 * many bytes they take.
 */
export function decodeFrames(bytes: Buffer): { frames: DecodedFrame[]; consumed: number } {
  const frames: DecodedFrame[] = [];
  let at = 0;
  while (at + HEADER <= bytes.byteLength) {
    if (bytes.readUInt32BE(at) !== MAGIC) break;
    const keyLength = bytes.readUInt16BE(at + 4);
    const valueLength = bytes.readUInt32BE(at + 6);
    const end = at + HEADER + keyLength + valueLength;
    if (end > bytes.byteLength) break;
    const key = bytes.subarray(at + HEADER, at + HEADER + keyLength);
    const value = bytes.subarray(at + HEADER + keyLength, end);
    if (!checksum(key, value).equals(bytes.subarray(at + 10, at + HEADER))) break;
    frames.push({ key: key.toString('utf8'), offset: at + HEADER + keyLength, length: valueLength });
    at = end;
  }
  return { frames, consumed: at };
}

function checksum(key: Uint8Array, value: Uint8Array): Buffer {
  return createHash('sha256').update(key).update(value).digest().subarray(0, 4);
}
