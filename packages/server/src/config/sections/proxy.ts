import { z } from 'zod';
import { duration } from '../units.js';

/**
 * `proxy`: distribution's pull-through cache of one registry. As in distribution, every repository
 * is the upstream's and pushes are refused; `wharf.upstreams` caches several registries next to
 * local repositories.
 */
export const proxySection = z
  .strictObject({
    remoteurl: z
      .url()
      .describe(
        'The registry every repository is pulled through from (e.g. `https://registry-1.docker.io`); pushes are refused.',
      ),
    username: z.string().optional().describe('User name at the upstream.'),
    password: z
      .string()
      .optional()
      .meta({ secret: true })
      .describe('Password (or access token) at the upstream.'),
    ttl: duration()
      .default('168h')
      .describe(
        'Cached content not pulled for this long is removed (garbage collection runs hourly unless `wharf.gc.interval` says otherwise); `0` keeps it.',
      ),
  })
  .optional();
