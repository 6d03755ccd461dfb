import { OptionsError } from '../errors.js';
import { type OptionCheck, type OptionChecks, optionCheck, validateOption } from '../validate/checks.js';
import { eventFilter } from './filters.js';
import { cloudEventsBody } from './formats/cloudevents.js';
import { distributionEnvelope } from './formats/distribution.js';
import { httpSender } from './http.js';
import type { EventDelivery, EventEndpoint, EventFormat, EventTransport } from './options.js';
import { SIGNATURE_HEADER, signBody } from './signing.js';
import type { RegistryEvent } from './types.js';

/** Endpoint names become storage key components. */
const ENDPOINT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** An endpoint with its defaults applied and its filters compiled. */
export interface ResolvedEndpoint {
  readonly name: string;
  readonly format: EventFormat;
  readonly timeout: number;
  readonly threshold: number;
  readonly backoff: number;
  readonly maxBackoff: number;
  readonly maxAttempts: number;
  readonly ordered: boolean;
  readonly concurrency: number;
  readonly wants: (event: RegistryEvent) => boolean;
  /** Formats, signs and sends a batch; throws when it was not accepted. */
  send(events: readonly RegistryEvent[], attempt: number, signal: AbortSignal): Promise<void>;
  /** The retry delay after `attempts` failed attempts. */
  delay(attempts: number): number;
  /** Releases what sending holds (kept-alive connections). */
  close(): void;
}

/** A finite number above zero (milliseconds, mostly). */
export const positiveNumber: OptionCheck = (value) =>
  value === undefined || (typeof value === 'number' && Number.isFinite(value) && value > 0)
    ? undefined
    : `must be a positive number (got ${String(value)})`;

const oneOf =
  (...values: readonly string[]): OptionCheck =>
  (value) =>
    value === undefined || values.includes(value as string)
      ? undefined
      : `must be ${values.map((v) => JSON.stringify(v)).join(' or ')}`;

const texts = optionCheck.array(optionCheck.text);

const ENDPOINT_CHECKS: OptionChecks<EventEndpoint> = {
  name: optionCheck.text,
  url: optionCheck.url,
  transport: optionCheck.function,
  format: oneOf('distribution', 'cloudevents'),
  headers: (value) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
    for (const [name, header] of Object.entries(value)) {
      const found = optionCheck.either(
        'must be a string or a list of strings',
        optionCheck.text,
        texts,
      )(header);
      if (found !== undefined) return { path: name, problem: String(found) };
    }
    return undefined;
  },
  timeout: positiveNumber,
  secret: optionCheck.text,
  threshold: optionCheck.integer(1),
  backoff: positiveNumber,
  maxBackoff: positiveNumber,
  maxAttempts: optionCheck.integer(1),
  ordering: oneOf('repository', 'none'),
  concurrency: optionCheck.integer(1),
  types: texts,
  repositories: texts,
  ignoredMediaTypes: texts,
  ignore: optionCheck.shape({ mediaTypes: texts, actions: texts }),
};

/** Validates an endpoint's options and applies defaults (throws {@link OptionsError}). */
export function resolveEndpoint(
  endpoint: EventEndpoint,
  baseUrl: string | undefined,
  factory = 'createRegistry',
): ResolvedEndpoint {
  validateOption(factory, 'events.endpoints', endpoint, optionCheck.shape({}, { exact: false }));
  validateOption(factory, 'events.endpoints.name', endpoint.name, (value) =>
    typeof value === 'string' && ENDPOINT_NAME.test(value)
      ? undefined
      : 'must be 1-64 letters, digits, ".", "_" or "-"',
  );
  const at = `events.endpoints[${JSON.stringify(endpoint.name)}]`;
  validateOption(factory, at, endpoint, optionCheck.shape(ENDPOINT_CHECKS));
  if ((endpoint.url === undefined) === (endpoint.transport === undefined)) {
    throw new OptionsError(factory, `${at}.url`, 'or a transport is required (exactly one of them)');
  }
  const format = endpoint.format ?? 'distribution';
  const backoff = endpoint.backoff ?? 1000;
  const maxBackoff = Math.max(backoff, endpoint.maxBackoff ?? 5 * 60_000);
  const extraHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    extraHeaders[name] = typeof value === 'string' ? value : value.join(', ');
  }
  const name = endpoint.name;
  const concurrency = endpoint.concurrency ?? 4;
  const timeout = endpoint.timeout ?? 5000;
  const threshold = endpoint.threshold ?? 10;
  const maxAttempts = endpoint.maxAttempts ?? 30;
  const sender = endpoint.url === undefined ? undefined : httpSender(endpoint.url, concurrency);
  const send: EventTransport = sender?.send ?? endpoint.transport!;
  return {
    name,
    format,
    timeout,
    threshold,
    backoff,
    maxBackoff,
    maxAttempts,
    ordered: (endpoint.ordering ?? 'repository') === 'repository',
    concurrency,
    wants: eventFilter(endpoint),
    delay: (attempts) => Math.min(maxBackoff, backoff * 2 ** Math.max(0, attempts - 1)),
    async send(events, attempt, signal) {
      const { contentType, body: text } =
        format === 'cloudevents' ? cloudEventsBody(events, baseUrl) : distributionEnvelope(events, baseUrl);
      const body = Buffer.from(text);
      const headers: Record<string, string> = { 'Content-Type': contentType };
      if (endpoint.secret) headers[SIGNATURE_HEADER] = signBody(endpoint.secret, body);
      // Header names are case-insensitive: an endpoint's Content-Type replaces the format's.
      for (const [key, value] of Object.entries(extraHeaders)) {
        for (const existing of Object.keys(headers)) {
          if (existing.toLowerCase() === key.toLowerCase()) delete headers[existing];
        }
        headers[key] = value;
      }
      const delivery: EventDelivery = { endpoint: name, events, body, headers, attempt, signal };
      await send(delivery);
    },
    close: () => sender?.close(),
  };
}
