/** A plain object read from YAML or built from the environment. */
export type RawObject = Record<string, unknown>;

export function isObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `path`, if every step exists. */
export function getPath(root: RawObject, path: readonly string[]): unknown {
  let node: unknown = root;
  for (const key of path) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** Whether `path` exists (even with a null value). */
export function hasPath(root: RawObject, path: readonly string[]): boolean {
  const parent = getPath(root, path.slice(0, -1));
  return isObject(parent) && Object.hasOwn(parent, path.at(-1)!);
}

/** Sets `path`, creating (or replacing non-object) parents. */
export function setPath(root: RawObject, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as RawObject;
  }
  node[path.at(-1)!] = value;
}

/** Removes `path` if present; returns whether it was. */
export function deletePath(root: RawObject, path: readonly string[]): boolean {
  const parent = getPath(root, path.slice(0, -1));
  if (!isObject(parent) || !Object.hasOwn(parent, path.at(-1)!)) return false;
  delete parent[path.at(-1)!];
  return true;
}
