/**
 * A notification consumer's parser, written from CNCF distribution's documented schema
 * (`notifications.Envelope` / `Event`, docs "Work with notifications"), independent of wharf's
 * own types: what a receiver built for distribution expects to read.
 */

/** distribution's `Event`, as a consumer decodes it. */
export interface ConsumedEvent {
  id: string;
  timestamp: Date;
  action: 'push' | 'pull' | 'mount' | 'delete';
  target: {
    mediaType?: string;
    digest?: string;
    size?: number;
    length?: number;
    repository?: string;
    fromRepository?: string;
    url?: string;
    tag?: string;
  };
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr?: string; instanceID?: string };
}

const ENVELOPE_TYPES = [
  'application/vnd.docker.distribution.events.v1+json',
  'application/vnd.docker.distribution.events.v2+json',
];
const ACTIONS = ['push', 'pull', 'mount', 'delete'];
/** RFC 3339, as Go's time.Time marshals. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function fail(message: string): never {
  throw new Error(`not a distribution notification: ${message}`);
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} is not an object`);
  return value as Record<string, unknown>;
}

function optional<T extends 'string' | 'number'>(
  record: Record<string, unknown>,
  key: string,
  type: T,
  where: string,
): (T extends 'string' ? string : number) | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== type) fail(`${where}.${key} is not a ${type}`);
  if (type === 'number' && !Number.isInteger(value)) fail(`${where}.${key} is not an integer`);
  return value as T extends 'string' ? string : number;
}

function required(record: Record<string, unknown>, key: string, where: string): string {
  const value = optional(record, key, 'string', where);
  if (value === undefined) fail(`${where}.${key} is missing`);
  return value;
}

/** Parses a notification request body; throws on anything distribution would not have sent. */
export function parseDistributionEnvelope(contentType: string | undefined, body: string): ConsumedEvent[] {
  if (!contentType || !ENVELOPE_TYPES.includes(contentType.split(';')[0]!.trim())) {
    fail(`Content-Type ${JSON.stringify(contentType)}`);
  }
  const envelope = object(JSON.parse(body), 'envelope');
  if (!Array.isArray(envelope.events)) fail('envelope.events is not a list');
  return envelope.events.map((raw, index) => {
    const where = `events[${index}]`;
    const event = object(raw, where);
    const timestamp = required(event, 'timestamp', where);
    if (!RFC3339.test(timestamp)) fail(`${where}.timestamp ${timestamp} is not RFC 3339`);
    const action = required(event, 'action', where);
    if (!ACTIONS.includes(action)) fail(`${where}.action ${action}`);
    const target = object(event.target, `${where}.target`);
    const request = object(event.request, `${where}.request`);
    const actor = object(event.actor, `${where}.actor`);
    const source = object(event.source, `${where}.source`);
    const t = `${where}.target`;
    const size = optional(target, 'size', 'number', t);
    const length = optional(target, 'length', 'number', t);
    if (size !== undefined && length !== undefined && size !== length) fail(`${t}.size and length differ`);
    const digest = optional(target, 'digest', 'string', t);
    if (digest !== undefined && !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
      fail(`${t}.digest ${digest}`);
    }
    return {
      id: required(event, 'id', where),
      timestamp: new Date(timestamp),
      action: action as ConsumedEvent['action'],
      target: {
        mediaType: optional(target, 'mediaType', 'string', t),
        digest,
        size,
        length,
        repository: optional(target, 'repository', 'string', t),
        fromRepository: optional(target, 'fromRepository', 'string', t),
        url: optional(target, 'url', 'string', t),
        tag: optional(target, 'tag', 'string', t),
      },
      request: {
        id: required(request, 'id', `${where}.request`),
        addr: optional(request, 'addr', 'string', `${where}.request`),
        host: optional(request, 'host', 'string', `${where}.request`),
        method: required(request, 'method', `${where}.request`),
        useragent: required(request, 'useragent', `${where}.request`),
      },
      actor: { name: optional(actor, 'name', 'string', `${where}.actor`) },
      source: {
        addr: optional(source, 'addr', 'string', `${where}.source`),
        instanceID: optional(source, 'instanceID', 'string', `${where}.source`),
      },
    };
  });
}
