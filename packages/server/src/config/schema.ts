import { z } from 'zod';
import { authSection } from './sections/auth.js';
import { healthSection } from './sections/health.js';
import { httpSection } from './sections/http.js';
import { logSection } from './sections/log.js';
import { notificationsSection } from './sections/notifications.js';
import { proxySection } from './sections/proxy.js';
import { storageSection } from './sections/storage.js';
import { wharfSection } from './sections/wharf.js';

/**
 * The configuration file: distribution's `config.yml` vocabulary plus a `wharf:` section. One
 * module per top-level section (`sections/`); a new section is a new module added here (and, when
 * distribution has keys for it that are not implemented yet, entries in `distribution.ts`).
 */
export const configSchema = z.strictObject({
  version: z
    .union([z.literal('0.1'), z.literal(0.1)])
    .optional()
    .meta({ typeLabel: '`0.1`' })
    .describe('Version of the format; `0.1`, as in distribution.'),
  log: logSection,
  http: httpSection,
  storage: storageSection,
  auth: authSection,
  health: healthSection,
  proxy: proxySection,
  notifications: notificationsSection,
  wharf: wharfSection,
});

/** The configuration as validated (defaults applied; durations and sizes still as written). */
export type Config = z.output<typeof configSchema>;
