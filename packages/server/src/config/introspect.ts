import { type ZodType, z } from 'zod';

/** What the settings reference shows of one key. */
export interface SettingInfo {
  readonly path: string;
  readonly type: string;
  readonly default: unknown;
  readonly description: string;
  readonly secret: boolean;
  /** Whether it holds further keys (a section). */
  readonly section: boolean;
}

interface Def {
  readonly type: string;
  readonly innerType?: ZodType;
  readonly defaultValue?: unknown;
  readonly shape?: Record<string, ZodType>;
  readonly options?: readonly ZodType[];
  readonly element?: ZodType;
  readonly valueType?: ZodType;
  readonly entries?: Record<string, string>;
  readonly values?: readonly unknown[];
  readonly in?: ZodType;
}

const defOf = (schema: ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

interface Unwrapped {
  readonly schema: ZodType;
  readonly meta: Record<string, unknown>;
  readonly default: unknown;
  readonly optional: boolean;
}

/** Strips optional/default wrappers, collecting their metadata and default. */
function unwrap(schema: ZodType): Unwrapped {
  let current = schema;
  let meta: Record<string, unknown> = {};
  let fallback: unknown;
  let optional = false;
  for (;;) {
    meta = { ...(z.globalRegistry.get(current) ?? {}), ...meta };
    const def = defOf(current);
    if (def.type === 'default' || def.type === 'prefault') {
      if (fallback === undefined) fallback = def.defaultValue;
      current = def.innerType!;
    } else if (def.type === 'optional' || def.type === 'nullable') {
      optional = true;
      current = def.innerType!;
    } else if (def.type === 'pipe') {
      current = def.in!;
    } else {
      return { schema: current, meta, default: fallback, optional };
    }
  }
}

function typeName(schema: ZodType, meta: Record<string, unknown>): string {
  if (typeof meta.typeLabel === 'string') return meta.typeLabel;
  const def = defOf(schema);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries ?? {})
        .map((value) => `\`${value}\``)
        .join(', ');
    case 'literal':
      return (def.values ?? []).map((value) => `\`${String(value)}\``).join(', ');
    case 'array':
      return `list of ${typeName(unwrap(def.element!).schema, unwrap(def.element!).meta)}`;
    case 'record':
      return 'map';
    case 'union':
      return (def.options ?? [])
        .map((option) => {
          const inner = unwrap(option);
          return typeName(inner.schema, inner.meta);
        })
        .join(' or ');
    case 'null':
      return 'empty';
    default:
      return def.type;
  }
}

/** Every key of `schema`, depth first, with what the reference shows. */
export function settingsOf(schema: ZodType, prefix = ''): SettingInfo[] {
  const { schema: inner } = unwrap(schema);
  const shape = defOf(inner).shape ?? {};
  const out: SettingInfo[] = [];
  for (const [key, child] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const info = unwrap(child);
    const isSection =
      defOf(info.schema).type === 'object' && Object.keys(defOf(info.schema).shape ?? {}).length > 0;
    out.push({
      path,
      type: isSection ? 'section' : typeName(info.schema, info.meta),
      default: isSection ? undefined : info.default,
      description: typeof info.meta.description === 'string' ? info.meta.description : '',
      secret: info.meta.secret === true,
      section: isSection,
    });
    if (isSection) out.push(...settingsOf(info.schema, path));
    // The keys of each entry of a list of objects (notifications.endpoints, wharf.upstreams), as
    // `list[].key`.
    const element =
      defOf(info.schema).type === 'array' ? unwrap(defOf(info.schema).element!).schema : undefined;
    if (element && defOf(element).type === 'object') out.push(...settingsOf(element, `${path}[]`));
  }
  return out;
}

/** The schema at `path`, if the path names a key. */
export function schemaAt(schema: ZodType, path: readonly string[]): ZodType | undefined {
  let current: ZodType | undefined = schema;
  for (const key of path) {
    if (!current) return undefined;
    const shape: Record<string, ZodType> | undefined = defOf(unwrap(current).schema).shape;
    current = shape && Object.hasOwn(shape, key) ? shape[key] : undefined;
  }
  return current;
}

/** Whether the value at `path` must be a string (so text from the environment stays text). */
export function isStringSetting(schema: ZodType, path: readonly string[]): boolean {
  const at = schemaAt(schema, path);
  return at !== undefined && defOf(unwrap(at).schema).type === 'string';
}

/** Keys whose values are secrets (shown redacted), by path. */
export function secretPaths(schema: ZodType): Set<string> {
  return new Set(
    settingsOf(schema)
      .filter((s) => s.secret)
      .map((s) => s.path),
  );
}
