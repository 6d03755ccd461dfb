import type { Readable } from 'node:stream';

const ignoreError = (): void => {};

/**
 * Makes a Node readable stream a store body: it is returned as a stream, which the node:http
 * adapter pipes to the socket natively (the cheapest way per byte), and it is released however
 * its reader stops: `signal` aborting destroys it with the signal's reason (not a generic
 * AbortError, like every other store stream), and so does ending its async iterator early, even
 * before the first read (a Node stream's own iterator is a generator whose `return()` before
 * `next()` never reaches its cleanup, so the file or connection behind it would stay open).
 */
export function nodeStreamBody<T extends Readable>(stream: T, signal?: AbortSignal): T {
  if (signal) {
    // The abort destroys the stream with an error; when nobody reads it yet (the adapter has not
    // started, or reads a FileBody through readInto), an 'error' without a listener would crash
    // the process. Readers still see the error through their own listeners and iterators.
    stream.on('error', ignoreError);
    const abort = (): void => {
      stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal.aborted) abort();
    else {
      signal.addEventListener('abort', abort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', abort));
    }
  }
  const iterate = stream[Symbol.asyncIterator].bind(stream);
  stream[Symbol.asyncIterator] = () => {
    const inner = iterate();
    const outer: AsyncIterableIterator<unknown> = {
      next: () => inner.next(),
      return: async (value?: unknown) => {
        stream.destroy();
        return inner.return ? inner.return(value) : { done: true, value: undefined };
      },
      throw: async (error?: unknown) => {
        stream.destroy();
        return inner.throw ? inner.throw(error) : Promise.reject(error);
      },
      [Symbol.asyncIterator]: () => outer,
    };
    return outer;
  };
  return stream;
}
