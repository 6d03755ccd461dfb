import { OptionsError } from '../errors.js';
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

function positive(factory: string, option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new OptionsError(factory, option, 'must be a positive number');
  return value;
}

function integer(factory: string, option: string, value: number | undefined, fallback: number): number {
  const n = positive(factory, option, value, fallback);
  if (!Number.isInteger(n)) throw new OptionsError(factory, option, 'must be a positive integer');
  return n;
}

/** Validates an endpoint's options and applies defaults (throws {@link OptionsError}). */
export function resolveEndpoint(
  endpoint: EventEndpoint,
  baseUrl: string | undefined,
  factory = 'createRegistry',
): ResolvedEndpoint {
  const at = (option: string) => `events.endpoints[${JSON.stringify(endpoint.name)}].${option}`;
  if (typeof endpoint.name !== 'string' || !ENDPOINT_NAME.test(endpoint.name)) {
    throw new OptionsError(factory, 'events.endpoints.name', 'must be 1-64 letters, digits, ".", "_" or "-"');
  }
  if ((endpoint.url === undefined) === (endpoint.transport === undefined)) {
    throw new OptionsError(factory, at('url'), 'or a transport is required (exactly one of them)');
  }
  if (endpoint.url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(endpoint.url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new OptionsError(factory, at('url'), 'must be an http or https URL');
    }
  }
  const format = endpoint.format ?? 'distribution';
  if (format !== 'distribution' && format !== 'cloudevents') {
    throw new OptionsError(factory, at('format'), 'must be "distribution" or "cloudevents"');
  }
  if (endpoint.ordering !== undefined && endpoint.ordering !== 'repository' && endpoint.ordering !== 'none') {
    throw new OptionsError(factory, at('ordering'), 'must be "repository" or "none"');
  }
  if (endpoint.secret !== undefined && (typeof endpoint.secret !== 'string' || endpoint.secret === '')) {
    throw new OptionsError(factory, at('secret'), 'must be a non-empty string');
  }
  const backoff = positive(factory, at('backoff'), endpoint.backoff, 1000);
  const maxBackoff = Math.max(backoff, positive(factory, at('maxBackoff'), endpoint.maxBackoff, 5 * 60_000));
  const extraHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    extraHeaders[name] = typeof value === 'string' ? value : value.join(', ');
  }
  const name = endpoint.name;
  const concurrency = integer(factory, at('concurrency'), endpoint.concurrency, 4);
  const timeout = positive(factory, at('timeout'), endpoint.timeout, 5000);
  const threshold = integer(factory, at('threshold'), endpoint.threshold, 10);
  const maxAttempts = integer(factory, at('maxAttempts'), endpoint.maxAttempts, 30);
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
