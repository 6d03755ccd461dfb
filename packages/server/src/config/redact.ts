import { isObject } from './paths.js';

const SECRET_NAME = /secret|password|passwd|token$|credential|authorization|accesskey|sessiontoken/i;

/**
 * A copy of the configuration with secrets replaced: keys the schema marks secret, and any string
 * under a key whose name says it is one (so sections added later are covered too).
 */
export function redact(value: unknown, secrets: ReadonlySet<string>, path = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, secrets, path));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    const secret = secrets.has(at) || SECRET_NAME.test(key);
    out[key] = secret && child !== undefined && !isObject(child) ? '[redacted]' : redact(child, secrets, at);
  }
  return out;
}
