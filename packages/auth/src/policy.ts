import { type AuthDecision, repositoryGlob } from '@wharf/core';
import { z } from 'zod';
import type { PolicyAction } from './scope.js';

/** A question to an {@link AccessPolicy}: may `user` do `action` (on `repository`)? */
export interface AccessQuery {
  /** The signed-in user; `undefined` for an anonymous request. */
  readonly user: string | undefined;
  readonly action: PolicyAction;
  /** The repository, for `pull`, `push` and `delete`; absent for `catalog`. */
  readonly repository?: string;
}

/**
 * Decides what a (possibly anonymous) user may do. Write your own, build one from
 * {@link AccessRule}s with {@link rulesPolicy}, and combine them with {@link anyOf} / {@link allOf}.
 */
export type AccessPolicy = (query: AccessQuery) => boolean | Promise<boolean>;

/** An action a rule grants; `*` is all of them. */
export type RuleAction = PolicyAction | '*';

/**
 * One allow rule. A request is allowed when at least one rule matches its user and repository
 * and lists its action; nothing is allowed otherwise.
 *
 * @example
 * ```json
 * [
 *   { "users": "anonymous", "repositories": "public/**", "actions": ["pull"] },
 *   { "users": "*", "actions": ["pull", "catalog"] },
 *   { "users": "*", "repositories": "{user}/**", "actions": ["pull", "push", "delete"] },
 *   { "users": ["alice", "ci-*"], "actions": ["*"] }
 * ]
 * ```
 */
export interface AccessRule {
  /**
   * Whom the rule is for: user names and globs over them (`*` is any signed-in user, `ci-*`
   * those starting with `ci-`), or the keyword `anonymous` for requests without credentials.
   * Globs never match anonymous requests. Default: everyone, anonymous included.
   */
  readonly users?: string | readonly string[];
  /**
   * Which repositories: globs in which `*` matches within one path component, `**` across
   * components, and `{user}` stands for the signed-in user's name (a rule using it never matches
   * anonymous requests). Default: every repository. Ignored for `catalog`.
   */
  readonly repositories?: string | readonly string[];
  /** What the rule allows: `pull`, `push`, `delete`, `catalog`, or `*` for all four. */
  readonly actions: readonly RuleAction[];
}

const ruleSchema = z.strictObject({
  users: z.union([z.string(), z.array(z.string())]).optional(),
  repositories: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  actions: z.array(z.enum(['pull', 'push', 'delete', 'catalog', '*'])),
});

/** Validates rules read from JSON (e.g. a rules file); throws a readable error. */
export function parseRules(json: unknown): AccessRule[] {
  const result = z.array(ruleSchema).safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new TypeError(`invalid access rules at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return result.data;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles a repository glob; `{user}` is the user name (a glob naming it matches no anonymous caller). */
function repositoryPattern(glob: string, user: string | undefined): RegExp | undefined {
  if (glob.includes('{user}') && user === undefined) return undefined;
  return repositoryGlob(glob, user === undefined ? {} : { '{user}': user });
}

function userPattern(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`);
}

function list(value: string | readonly string[] | undefined): readonly string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? [value] : value;
}

/** Tests a user name (`undefined` when anonymous) against one `users` entry. */
type UserMatcher = (user: string | undefined) => boolean;

function userMatcher(entry: string): UserMatcher {
  if (entry === 'anonymous') return (user) => user === undefined;
  const pattern = userPattern(entry);
  return (user) => user !== undefined && pattern.test(user);
}

/** Tests a repository for a user; `false` whenever the glob cannot match that user. */
type RepositoryMatcher = (repository: string, user: string | undefined) => boolean;

function repositoryMatcher(glob: string): RepositoryMatcher {
  // Only globs naming `{user}` depend on who asks; the others compile once, here.
  if (glob.includes('{user}')) {
    return (repository, user) => repositoryPattern(glob, user)?.test(repository) ?? false;
  }
  const pattern = repositoryPattern(glob, undefined);
  return (repository) => pattern?.test(repository) ?? false;
}

/** An {@link AccessPolicy} from allow rules (see {@link AccessRule} for the language). */
export function rulesPolicy(rules: readonly AccessRule[]): AccessPolicy {
  const compiled = parseRules(rules).map((rule) => ({
    users: list(rule.users)?.map(userMatcher),
    repositories: list(rule.repositories)?.map(repositoryMatcher),
    actions: new Set<RuleAction>(rule.actions),
  }));
  return ({ user, action, repository }) =>
    compiled.some((rule) => {
      if (!rule.actions.has(action) && !rule.actions.has('*')) return false;
      if (rule.users !== undefined && !rule.users.some((matches) => matches(user))) return false;
      if (action === 'catalog') return true;
      if (repository === undefined) return false;
      if (rule.repositories === undefined) return true;
      return rule.repositories.some((matches) => matches(repository, user));
    });
}

type Decision = AuthDecision;

function allowed(decision: Decision): boolean {
  return decision === true || (typeof decision === 'object' && decision.allow);
}

/**
 * Allows when any of `checks` allows (evaluated in order, stopping at the first that does). Works on
 * {@link AccessPolicy}s (booleans) and on `authorize` hooks (`AuthDecision`s); when every hook
 * refuses, the first refusal that asks for credentials (401) is returned, else the first refusal.
 */
export function anyOf<C>(
  ...checks: ReadonlyArray<(context: C) => boolean | Promise<boolean>>
): (context: C) => Promise<boolean>;
export function anyOf<C>(
  ...checks: ReadonlyArray<(context: C) => Decision | Promise<Decision>>
): (context: C) => Promise<Decision>;
export function anyOf<C>(
  ...checks: ReadonlyArray<(context: C) => Decision | Promise<Decision>>
): (context: C) => Promise<Decision> {
  return async (context) => {
    let refusal: Decision | undefined;
    for (const check of checks) {
      const decision = await check(context);
      if (allowed(decision)) return decision;
      const asksForCredentials = typeof decision === 'object' && !decision.allow && decision.status === 401;
      const kept = typeof refusal === 'object' && !refusal.allow && refusal.status === 401;
      if (refusal === undefined || (asksForCredentials && !kept)) refusal = decision;
    }
    return refusal ?? false;
  };
}

/**
 * Allows when every one of `checks` allows (evaluated in order, stopping at the first refusal, which
 * is returned). Works on {@link AccessPolicy}s and on `authorize` hooks alike.
 */
export function allOf<C>(
  ...checks: ReadonlyArray<(context: C) => boolean | Promise<boolean>>
): (context: C) => Promise<boolean>;
export function allOf<C>(
  ...checks: ReadonlyArray<(context: C) => Decision | Promise<Decision>>
): (context: C) => Promise<Decision>;
export function allOf<C>(
  ...checks: ReadonlyArray<(context: C) => Decision | Promise<Decision>>
): (context: C) => Promise<Decision> {
  return async (context) => {
    for (const check of checks) {
      const decision = await check(context);
      if (!allowed(decision)) return decision;
    }
    return true;
  };
}
