import type { RegistryAction } from '@wharf/core';
import { isRepositoryName } from '@wharf/core';
import type { AccessEntry } from './jwt.js';

/** An action on a repository, as rules and policies speak of it. */
export type RepositoryAction = 'pull' | 'push' | 'delete';

/** Everything a policy decides: repository actions, and listing the catalog. */
export type PolicyAction = RepositoryAction | 'catalog';

/** The repository actions, in the order scopes list them. */
export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete'];

/** A requested scope (`repository:<name>:<actions>` or `registry:catalog:*`). */
export interface Scope {
  readonly type: 'repository' | 'registry';
  readonly name: string;
  /** Requested actions; `*` stands for all. */
  readonly actions: readonly string[];
}

/**
 * Parses one scope string. Unknown resource types, invalid repository names and empty action lists
 * give `undefined` (a token server ignores what it does not understand).
 */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = [
    ...new Set(
      text
        .slice(last + 1)
        .split(',')
        .filter(Boolean),
    ),
  ];
  if (actions.length === 0) return undefined;
  if (type === 'repository') {
    if (!isRepositoryName(name)) return undefined;
    return { type, name, actions };
  }
  if (type === 'registry' && name === 'catalog') return { type, name, actions };
  return undefined;
}

/**
 * Parses the scopes of a token request: repeated `scope` parameters, each possibly holding several
 * space-separated scopes (the OAuth2 form). Scopes for the same resource are merged.
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const merged = new Map<string, { type: Scope['type']; name: string; actions: Set<string> }>();
  for (const value of values) {
    for (const text of value.split(' ')) {
      if (!text) continue;
      const scope = parseScope(text);
      if (!scope) continue;
      const key = `${scope.type}:${scope.name}`;
      const entry = merged.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() };
      for (const action of scope.actions) entry.actions.add(action);
      merged.set(key, entry);
    }
  }
  return [...merged.values()].map(({ type, name, actions }) => ({ type, name, actions: [...actions] }));
}

/**
 * The scope a client must ask for to do `action` (for the `scope` of a Bearer challenge): pull →
 * `pull`, push → `pull,push` (pushes read back what they wrote), delete → `delete`, catalog →
 * `registry:catalog:*`; ping needs none.
 */
export function scopeFor(action: RegistryAction, repository: string | undefined): string | undefined {
  switch (action) {
    case 'ping':
      return undefined;
    case 'catalog':
      return 'registry:catalog:*';
    case 'pull':
      return repository === undefined ? undefined : `repository:${repository}:pull`;
    case 'push':
      return repository === undefined ? undefined : `repository:${repository}:pull,push`;
    case 'delete':
      return repository === undefined ? undefined : `repository:${repository}:delete`;
  }
}

/** Whether a token's `access` grants `action` (`*` grants every action on its resource). */
export function accessGrants(
  access: readonly AccessEntry[],
  action: RegistryAction,
  repository: string | undefined,
): boolean {
  if (action === 'ping') return true;
  if (action === 'catalog') {
    return access.some((e) => e.type === 'registry' && e.name === 'catalog' && e.actions.includes('*'));
  }
  if (repository === undefined) return false;
  return access.some(
    (e) =>
      e.type === 'repository' &&
      e.name === repository &&
      (e.actions.includes(action) || e.actions.includes('*')),
  );
}

/** A scope string of an access entry, for logs. */
export function formatAccess(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}
