import type { EventEndpoint, EventsOptions } from '@wharf/core';
import { z } from 'zod';
import { duration, parseDuration } from '../units.js';

const strings = z.array(z.string().min(1));

const endpoint = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
    .describe(
      'A stable name: delivery progress and dead letters are kept under it (renaming redelivers what is queued).',
    ),
  url: z.url({ protocol: /^https?$/ }).describe('Where events are POSTed.'),
  disabled: z.boolean().default(false).describe('Configured but not sent to (nothing is recorded for it).'),
  headers: z
    .record(z.string(), z.union([z.string(), z.array(z.string())]))
    .optional()
    .describe('Extra request headers (a list repeats the header), as in distribution.'),
  timeout: duration().default('5s').describe('Time one delivery attempt may take.'),
  threshold: z
    .number()
    .int()
    .positive()
    .default(10)
    .describe('Consecutive failures after which a replica pauses the endpoint.'),
  backoff: duration().default('1s').describe('First retry delay, doubled per failed attempt.'),
  ignoredmediatypes: strings.optional().describe('Media types whose events are not sent.'),
  ignore: z
    .strictObject({
      mediatypes: strings.optional().describe('Media types whose events are not sent.'),
      actions: strings.optional().describe('Actions not sent: `push`, `pull`, `mount`, `delete`.'),
    })
    .optional()
    .describe('Events not sent.'),
  format: z
    .enum(['distribution', 'cloudevents'])
    .default('distribution')
    .describe('Body format: distribution’s envelope, or CloudEvents 1.0 (structured JSON).'),
  secret: z
    .string()
    .min(1)
    .optional()
    .meta({ secret: true })
    .describe('Key of the HMAC-SHA256 body signature in `X-Wharf-Signature-256`.'),
  ordering: z
    .enum(['repository', 'none'])
    .default('repository')
    .describe('`repository`: one repository’s events arrive in order; `none`: batches are independent.'),
  maxattempts: z
    .number()
    .int()
    .positive()
    .default(30)
    .describe('Failed attempts after which a batch is dead-lettered (see `wharf events`).'),
  maxbackoff: duration().default('5m').describe('Longest retry delay.'),
  concurrency: z.number().int().positive().default(4).describe('Batches in flight at once per replica.'),
  repositories: strings
    .optional()
    .describe('Only repositories matching one of these patterns (`team/**`, `apps/*`).'),
});

/** `notifications`: where events are delivered (distribution's endpoints, durable in wharf). */
export const notificationsSection = z
  .strictObject({
    events: z
      .strictObject({})
      .optional()
      .describe('distribution’s event options; `includereferences` is reported, not implemented.'),
    endpoints: z.array(endpoint).default([]).describe('Receivers of events.'),
    pulls: z
      .boolean()
      .default(false)
      .describe('Record pulls too (a storage write per pull); distribution sends them.'),
    baseurl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('The registry’s URL in events’ `target.url`. Default: the request’s host.'),
  })
  .prefault({});

type NotificationsConfig = z.output<typeof notificationsSection>;

const ms = (value: string | number): number => parseDuration(value)!;

/** The event pipeline's options, or `undefined` when no endpoint is enabled. */
export function resolveNotifications(config: NotificationsConfig): EventsOptions | undefined {
  const endpoints = config.endpoints
    .filter((e) => !e.disabled)
    .map((e): EventEndpoint => {
      const mediaTypes = [...(e.ignoredmediatypes ?? []), ...(e.ignore?.mediatypes ?? [])];
      return {
        name: e.name,
        url: e.url,
        format: e.format,
        timeout: ms(e.timeout),
        threshold: e.threshold,
        backoff: ms(e.backoff),
        maxBackoff: ms(e.maxbackoff),
        maxAttempts: e.maxattempts,
        ordering: e.ordering,
        concurrency: e.concurrency,
        ...(e.headers ? { headers: e.headers } : {}),
        ...(e.secret ? { secret: e.secret } : {}),
        ...(e.repositories ? { repositories: e.repositories } : {}),
        ...(mediaTypes.length > 0 ? { ignoredMediaTypes: mediaTypes } : {}),
        ...(e.ignore?.actions ? { ignore: { actions: e.ignore.actions } } : {}),
      };
    });
  if (endpoints.length === 0) return undefined;
  return { endpoints, pulls: config.pulls, ...(config.baseurl ? { baseUrl: config.baseurl } : {}) };
}

/** Distinct endpoint names (progress is kept by name). */
export function notificationProblems(config: NotificationsConfig): { path: string; message: string }[] {
  const seen = new Set<string>();
  const problems: { path: string; message: string }[] = [];
  for (const [i, e] of config.endpoints.entries()) {
    if (seen.has(e.name))
      problems.push({ path: `notifications.endpoints.${i}.name`, message: `${e.name} is used twice` });
    seen.add(e.name);
  }
  return problems;
}
