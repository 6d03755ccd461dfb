import type { RouteMiddleware } from '@wharf/core';
import type { KitEnvironment } from '../environment.js';
import { errorResponse, setHeader } from '../responses.js';

/**
 * A pull rate limit the way Docker Hub reports it: each manifest GET counts, manifest responses
 * carry `ratelimit-limit: <limit>;w=<window>` and `ratelimit-remaining`, and GETs beyond the limit
 * get 429 `TOOMANYREQUESTS` until the window (on the registry's clock) has passed.
 */
export function rateLimitMiddleware(
  options: { readonly limit: number; readonly windowSeconds: number; readonly message?: string },
  env: KitEnvironment,
): { middleware: RouteMiddleware; reset(): void } {
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  const window = `w=${options.windowSeconds}`;
  return {
    reset() {
      windowStart = Number.NEGATIVE_INFINITY;
      used = 0;
    },
    middleware: async (call, next) => {
      if (call.route !== 'manifest' || (call.method !== 'GET' && call.method !== 'HEAD')) return next();
      const now = env.clock.now();
      if (now - windowStart >= options.windowSeconds * 1000) {
        windowStart = now;
        used = 0;
      }
      const headers = {
        'ratelimit-limit': `${options.limit};${window}`,
        'ratelimit-remaining': `${Math.max(0, options.limit - used)};${window}`,
      };
      if (!call.head) {
        if (used >= options.limit) {
          return errorResponse(
            429,
            'TOOMANYREQUESTS',
            options.message ??
              'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
            { headers },
          );
        }
        used++;
        headers['ratelimit-remaining'] = `${options.limit - used};${window}`;
      }
      const response = await next();
      for (const [name, value] of Object.entries(headers)) setHeader(response, name, value);
      return response;
    },
  };
}
