/** A promise with its settle functions, for tests that decide when a step completes. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One turn of the event loop: lets pending I/O callbacks and promise chains run. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
