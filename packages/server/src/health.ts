import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@wharf/core';

/** Options of {@link createReadiness}. */
export interface ReadinessOptions {
  /** Throws when storage does not answer. */
  readonly probe: () => Promise<void>;
  /** Check in the background every `interval` ms; otherwise on request (at most once a second). */
  readonly background: boolean;
  readonly interval: number;
  /** Consecutive failures before the registry counts as not ready. */
  readonly threshold: number;
  readonly logger: Logger;
}

/** Whether storage answers: the state behind `/readyz`. */
export interface Readiness {
  /** The current state, checking first unless a background check keeps it fresh. */
  ready(): Promise<{ ready: boolean; error: string | undefined }>;
  stop(): void;
}

/**
 * Tracks whether storage answers. A failure counts after `threshold` consecutive failed checks; one
 * success makes the registry ready again.
 */
export function createReadiness(options: ReadinessOptions): Readiness {
  let failures = 0;
  let lastError: string | undefined;
  let checkedAt = 0;
  let running: Promise<void> | undefined;

  const check = (): Promise<void> => {
    running ??= options
      .probe()
      .then(
        () => {
          if (failures >= options.threshold) options.logger.info({}, 'storage answers again: ready');
          failures = 0;
          lastError = undefined;
        },
        (error: unknown) => {
          failures++;
          lastError = error instanceof Error ? error.message : String(error);
          if (failures === options.threshold)
            options.logger.warn({ err: error }, 'storage does not answer: not ready');
        },
      )
      .finally(() => {
        checkedAt = Date.now();
        running = undefined;
      });
    return running;
  };

  const timer = options.background ? setInterval(() => void check(), options.interval) : undefined;
  timer?.unref();
  let first: Promise<void> | undefined = options.background ? check() : undefined;

  return {
    async ready() {
      if (first) {
        await first;
        first = undefined;
      } else if (!options.background && Date.now() - checkedAt >= 1000) {
        await check();
      }
      const ready = failures < options.threshold;
      return { ready, error: ready ? undefined : lastError };
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

/**
 * Answers `/healthz` (the process serves requests) and `/readyz` (storage answers); returns false
 * for other paths.
 */
export function serveHealth(
  readiness: Readiness,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  if (path !== '/healthz' && path !== '/readyz') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end();
    return true;
  }
  const send = (status: number, body: object) => {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  if (path === '/healthz') {
    send(200, { status: 'ok' });
    return true;
  }
  readiness.ready().then(
    ({ ready }) => send(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' }),
    () => send(503, { status: 'not ready' }),
  );
  return true;
}
