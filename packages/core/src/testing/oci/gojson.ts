/**
 * Just enough of Go's `encoding/json` to reproduce the conformance suite byte for byte:
 * `json.MarshalIndent(v, "", "\t")` for the test data and `json.Unmarshal` into the suite's typed
 * structs (so that a response the Go suite fails to decode fails here too).
 */

/** Go's `json.MarshalIndent(v, "", "\t")`: JSON.stringify plus Go's HTML-safe string escaping. */
export function goMarshalIndent(value: unknown): Uint8Array {
  const text = JSON.stringify(value, null, '\t')
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return new TextEncoder().encode(text);
}

/** The Go type a JSON value is decoded into. */
export type GoType =
  | 'string'
  | 'int'
  | 'bytes'
  | 'any'
  | { readonly slice: GoType }
  | { readonly map: GoType }
  | { readonly ptr: GoType }
  | { readonly struct: Readonly<Record<string, GoType>> };

/** The outcome of `json.Unmarshal`: the decoded value (Go zero values where absent) and the error. */
export interface GoDecoded<T> {
  readonly value: T;
  readonly error: string | undefined;
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function zeroOf(type: GoType): unknown {
  if (type === 'string') return '';
  if (type === 'int') return 0;
  if (type === 'bytes' || type === 'any') return null;
  if ('slice' in type || 'map' in type || 'ptr' in type) return null;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(type.struct)) out[name] = zeroOf(field);
  return out;
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Decodes `raw` as Go would into `type`: `null` leaves the zero value, unknown fields are ignored,
 * struct fields match case-insensitively (an exact match wins), a type mismatch is an error (Go
 * keeps decoding the rest and reports the first one).
 */
export function goUnmarshal<T>(body: Uint8Array | string, type: GoType): GoDecoded<T> {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { value: zeroOf(type) as T, error: `invalid JSON: ${(error as Error).message}` };
  }
  const errors: string[] = [];
  const value = decode(parsed, type, '$', errors);
  return { value: value as T, error: errors[0] };
}

function decode(value: unknown, type: GoType, path: string, errors: string[]): unknown {
  if (value === null) return zeroOf(type);
  const mismatch = (): unknown => {
    errors.push(`cannot unmarshal ${jsonKind(value)} into ${describe(type)} at ${path}`);
    return zeroOf(type);
  };
  if (type === 'any') return value;
  if (type === 'string') return typeof value === 'string' ? value : mismatch();
  if (type === 'int') {
    // Go rejects fractions and exponents for integer fields; JSON.parse cannot tell `1.0` from `1`,
    // but a JavaScript registry never serialises an integer that way.
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : mismatch();
  }
  if (type === 'bytes') {
    if (typeof value !== 'string') return mismatch();
    const compact = value.replace(/[\r\n]/g, '');
    if (!STD_BASE64.test(compact)) {
      errors.push(`illegal base64 data at ${path}`);
      return null;
    }
    return new Uint8Array(Buffer.from(compact, 'base64'));
  }
  if ('ptr' in type) return decode(value, type.ptr, path, errors);
  if ('slice' in type) {
    if (!Array.isArray(value)) return mismatch();
    return value.map((item, i) => decode(item, type.slice, `${path}[${i}]`, errors));
  }
  if (typeof value !== 'object' || Array.isArray(value)) return mismatch();
  const object = value as Record<string, unknown>;
  if ('map' in type) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(object))
      out[key] = decode(item, type.map, `${path}.${key}`, errors);
    return out;
  }
  const out = zeroOf(type) as Record<string, unknown>;
  const keys = Object.keys(object);
  for (const [name, field] of Object.entries(type.struct)) {
    const key = name in object ? name : keys.findLast((k) => k.toLowerCase() === name.toLowerCase());
    if (key !== undefined) out[name] = decode(object[key], field, `${path}.${name}`, errors);
  }
  return out;
}

function describe(type: GoType): string {
  if (typeof type === 'string') return type === 'bytes' ? '[]byte' : type === 'any' ? 'interface {}' : type;
  if ('slice' in type) return `[]${describe(type.slice)}`;
  if ('map' in type) return `map[string]${describe(type.map)}`;
  if ('ptr' in type) return `*${describe(type.ptr)}`;
  return 'struct';
}

/** `conformance/image.go` `platform`. */
const PLATFORM: GoType = {
  struct: {
    architecture: 'string',
    os: 'string',
    'os.version': 'string',
    'os.features': { slice: 'string' },
    variant: 'string',
  },
};

/** `conformance/image.go` `descriptor`. */
export const DESCRIPTOR: GoType = {
  struct: {
    mediaType: 'string',
    digest: 'string',
    size: 'int',
    urls: { slice: 'string' },
    annotations: { map: 'string' },
    data: 'bytes',
    platform: { ptr: PLATFORM },
    artifactType: 'string',
    newUnspecifiedField: 'bytes',
  },
};

/** `conformance/image.go` `index`. */
export const INDEX: GoType = {
  struct: {
    schemaVersion: 'int',
    mediaType: 'string',
    artifactType: 'string',
    manifests: { slice: DESCRIPTOR },
    subject: { ptr: DESCRIPTOR },
    annotations: { map: 'string' },
  },
};

/** `conformance/setup.go` `TagList`. */
export const TAG_LIST: GoType = { struct: { name: 'string', tags: { slice: 'string' } } };

/** reggie's `ErrorResponse` (`{"errors":[{"code","message","detail"}]}`). */
export const ERROR_RESPONSE: GoType = {
  struct: { errors: { slice: { struct: { code: 'string', message: 'string', detail: 'any' } } } },
};

export interface GoDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string> | null;
}

export interface GoIndex {
  manifests: GoDescriptor[] | null;
}

export interface GoTagList {
  name: string;
  tags: string[] | null;
}

export interface GoErrorInfo {
  code: string;
  message: string;
  detail: unknown;
}
