import type { DispatchContext, EndpointState } from './dispatch-state.js';
import type { RegistryEvent } from './types.js';

/** How one attempt went. */
export interface Outcome {
  /** Why it failed; `undefined` when delivered. */
  readonly error: string | undefined;
  /** The dispatcher is stopping: not the endpoint's failure. */
  readonly stopped: boolean;
  readonly seconds: number;
}

/** Rejects when the signal aborts, so a transport that ignores it cannot hold a slot forever. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One delivery, bounded by the endpoint's timeout and by the dispatcher stopping. */
export async function send(
  context: DispatchContext,
  state: EndpointState,
  events: readonly RegistryEvent[],
  attempt: number,
): Promise<Outcome> {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  const signal = AbortSignal.any([AbortSignal.timeout(state.endpoint.timeout), context.stop]);
  try {
    await raceSignal(
      Promise.resolve().then(() => state.endpoint.send(events, attempt, signal)),
      signal,
    );
    return { error: undefined, stopped: false, seconds: seconds() };
  } catch (err) {
    return { error: message(err), stopped: context.stop.aborted, seconds: seconds() };
  }
}
