import type { AuthDecision, AuthorizeContext } from '@wharf/core';
import { describe, expect, it } from 'vitest';
import {
  type AccessQuery,
  allOf,
  anyOf,
  parseRules,
  parseScopes,
  rulesPolicy,
  scopeFor,
} from '../src/index.js';
import { RULES } from './helpers.js';

const policy = rulesPolicy(RULES);
const may = (user: string | undefined, action: AccessQuery['action'], repository?: string) =>
  policy({ user, action, ...(repository === undefined ? {} : { repository }) });

describe('access rules', () => {
  it('lets anonymous users pull what a rule names for them, and nothing else', async () => {
    expect(await may(undefined, 'pull', 'public/base')).toBe(true);
    expect(await may(undefined, 'pull', 'public/deep/er')).toBe(true);
    expect(await may(undefined, 'push', 'public/base')).toBe(false);
    expect(await may(undefined, 'pull', 'shared/tool')).toBe(false);
    expect(await may(undefined, 'catalog')).toBe(false);
  });

  it('substitutes {user}, and never matches {user} or globs for anonymous requests', async () => {
    expect(await may('alice', 'push', 'alice/app')).toBe(true);
    expect(await may('alice', 'delete', 'alice/team/app')).toBe(true);
    expect(await may('alice', 'push', 'bob/app')).toBe(false);
    expect(await may('alice', 'pull', 'bob/app')).toBe(false);
    expect(await may('alice', 'push', 'alice')).toBe(false);
    expect(await may('alice', 'push', 'alicex/app')).toBe(false);
    expect(await may(undefined, 'push', '/app')).toBe(false);
  });

  it('gives `*` every action, including catalog', async () => {
    for (const action of ['pull', 'push', 'delete'] as const)
      expect(await may('admin', action, 'x/y')).toBe(true);
    expect(await may('admin', 'catalog')).toBe(true);
    expect(await may('bob', 'catalog')).toBe(true);
  });

  it('matches one path component with * and any depth with **, escaping the rest', async () => {
    const p = rulesPolicy([
      { users: 'ci-*', repositories: ['builds/*', 'tools/**/cache', 'a.b/c'], actions: ['push'] },
    ]);
    const push = (user: string, repository: string) => p({ user, action: 'push', repository });
    expect(await push('ci-1', 'builds/x')).toBe(true);
    expect(await push('ci-1', 'builds/x/y')).toBe(false);
    expect(await push('ci-1', 'tools/a/b/cache')).toBe(true);
    expect(await push('ci-1', 'a.b/c')).toBe(true);
    expect(await push('ci-1', 'aXb/c')).toBe(false);
    expect(await push('dev', 'builds/x')).toBe(false);
  });

  it('escapes user names substituted into repository globs', async () => {
    const p = rulesPolicy([{ users: '*', repositories: '{user}/**', actions: ['push'] }]);
    expect(await p({ user: 'a.b', action: 'push', repository: 'a.b/x' })).toBe(true);
    expect(await p({ user: 'a.b', action: 'push', repository: 'axb/x' })).toBe(false);
  });

  it('validates rules read from JSON', () => {
    expect(parseRules([{ users: 'anonymous', actions: ['pull'] }])).toHaveLength(1);
    expect(() => parseRules([{ actions: ['write'] }])).toThrow(/invalid access rules at 0\.actions/);
    expect(() => parseRules([{ repository: 'x', actions: [] }])).toThrow(/invalid access rules/);
    expect(() => parseRules({})).toThrow(/invalid access rules/);
  });
});

describe('anyOf / allOf', () => {
  const context = { action: 'push', repository: 'a/b', request: {} } as unknown as AuthorizeContext;
  const ask: AuthDecision = { allow: false, status: 401, challenge: 'Basic realm="x"' };

  it('combine policies (booleans)', async () => {
    const yes = () => true;
    const no = async () => false;
    expect(await anyOf<AccessQuery>(no, yes)({ user: 'u', action: 'pull', repository: 'r' })).toBe(true);
    expect(await anyOf<AccessQuery>(no, no)({ user: 'u', action: 'pull', repository: 'r' })).toBe(false);
    expect(await allOf<AccessQuery>(yes, no)({ user: 'u', action: 'pull', repository: 'r' })).toBe(false);
    expect(await allOf<AccessQuery>(yes, yes)({ user: 'u', action: 'pull', repository: 'r' })).toBe(true);
  });

  it('combine authorize hooks, keeping the most useful refusal', async () => {
    const deny = (): AuthDecision => false;
    const allow = (): AuthDecision => ({ allow: true });
    expect(await anyOf<AuthorizeContext>(deny, () => ask)(context)).toEqual(ask);
    expect(await anyOf<AuthorizeContext>(deny, allow)(context)).toEqual({ allow: true });
    expect(await allOf<AuthorizeContext>(allow, () => ask, deny)(context)).toEqual(ask);
    expect(await allOf<AuthorizeContext>(allow, () => true)(context)).toBe(true);
  });

  it('stop at the first decisive answer', async () => {
    const calls: string[] = [];
    const track = (name: string, result: boolean) => () => {
      calls.push(name);
      return result;
    };
    await anyOf<AccessQuery>(track('a', true), track('b', true))({ user: undefined, action: 'catalog' });
    await allOf<AccessQuery>(track('c', false), track('d', true))({ user: undefined, action: 'catalog' });
    expect(calls).toEqual(['a', 'c']);
  });
});

describe('scopes', () => {
  it('derives the challenge scope from the action', () => {
    expect(scopeFor('pull', 'a/b')).toBe('repository:a/b:pull');
    expect(scopeFor('push', 'a/b')).toBe('repository:a/b:pull,push');
    expect(scopeFor('delete', 'a/b')).toBe('repository:a/b:delete');
    expect(scopeFor('catalog', undefined)).toBe('registry:catalog:*');
    expect(scopeFor('ping', undefined)).toBeUndefined();
  });

  it('parses repeated and space-separated scopes, merging and dropping what it does not understand', () => {
    expect(
      parseScopes([
        'repository:a/b:pull',
        'repository:a/b:push registry:catalog:*',
        'repository:127.0.0.1:5000/x:pull',
        'repository:UPPER:pull',
        'repository(plugin):a/b:pull',
        'garbage',
        'repository:c/d:',
      ]),
    ).toEqual([
      { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });
});
