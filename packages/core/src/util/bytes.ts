/** Small helpers for byte streams (`AsyncIterable<Uint8Array>`). */

/** Reads a whole stream into one buffer. Only for bounded data (manifests, tests). */
export async function collectBytes(
  source: AsyncIterable<Uint8Array>,
  limit = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > limit) throw new RangeError(`stream exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** A stream of the given chunks. */
export async function* bytesOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

/** Yields `data` in slices of at most `size` bytes. */
export function* slices(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += size) {
    yield data.subarray(offset, Math.min(offset + size, data.byteLength));
  }
}

/** Throws the signal's reason when it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
