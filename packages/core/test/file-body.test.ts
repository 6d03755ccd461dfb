import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBody } from '@wharf/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

let dir: string;
let file: string;
const content = randomBytes(3 * 1024 * 1024 + 123);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-file-body-'));
  file = join(dir, 'data');
  await writeFile(file, content);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('FileBody', () => {
  it('streams the whole file, or exactly a window of it, and closes the file at the end', async () => {
    const whole = await open(file);
    const body = new FileBody(whole);
    expect(FileBody.isFileBody(body)).toBe(true);
    expect(FileBody.isFileBody({})).toBe(false);
    expect((await collect(body)).equals(content)).toBe(true);
    expect(body.bytesRead).toBe(content.byteLength);
    await vi.waitFor(() => expect(whole.fd).toBe(-1));

    const window = { offset: 1024 * 1024 - 7, length: 2 * 1024 * 1024 + 11 };
    const part = await open(file);
    const bytes = await collect(new FileBody(part, window));
    expect(bytes.equals(content.subarray(window.offset, window.offset + window.length))).toBe(true);
  });

  it('reads into the caller’s buffers, one read at a time', async () => {
    const body = new FileBody(await open(file), { offset: 10, length: 300_000 });
    const buffer = Buffer.alloc(128 * 1024);
    const hash = createHash('sha256');
    const first = body.readInto(buffer);
    await expect(body.readInto(Buffer.alloc(1))).rejects.toThrow('already in progress');
    let n = await first;
    let total = 0;
    while (n > 0) {
      hash.update(buffer.subarray(0, n));
      total += n;
      n = await body.readInto(buffer);
    }
    expect(total).toBe(300_000);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(content.subarray(10, 300_010)).digest('hex'));
    body.destroy();
    await expect(body.readInto(buffer)).rejects.toThrow('destroyed');
  });

  it('closes the file when its reader stops early', async () => {
    const handle = await open(file);
    const body = new FileBody(handle);
    for await (const _ of body) break;
    // Closing waits for the read the stream had started ahead.
    await vi.waitFor(() => expect(handle.fd).toBe(-1));
  });
});
