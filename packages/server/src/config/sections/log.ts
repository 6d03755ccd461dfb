import { z } from 'zod';

/** `log`: distribution's logging settings. */
export const logSection = z
  .strictObject({
    level: z
      .enum(['error', 'warn', 'info', 'debug'])
      .default('info')
      .describe('Least severe level logged: `error`, `warn`, `info` or `debug`.'),
    formatter: z
      .enum(['json', 'text', 'logstash'])
      .optional()
      .describe(
        'Log format: `json` (one JSON object per line, pino) or `text` (readable lines). `logstash` is JSON. ' +
          'Default: `text` when standard output is a terminal, else `json`.',
      ),
    fields: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('Static fields added to every log line (e.g. `service: registry`).'),
    accesslog: z
      .strictObject({
        disabled: z.boolean().default(false).describe('Turns off the access log (one line per request).'),
      })
      .prefault({}),
  })
  .prefault({});
