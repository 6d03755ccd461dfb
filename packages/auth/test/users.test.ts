import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Every credential comparison must go through crypto.timingSafeEqual: spy on it.
const spies = vi.hoisted(() => ({ timingSafeEqual: undefined as undefined | ReturnType<typeof vi.fn> }));
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  const timingSafeEqual = vi.fn(original.timingSafeEqual);
  spies.timingSafeEqual = timingSafeEqual;
  return { ...original, default: { ...original, timingSafeEqual }, timingSafeEqual };
});

const { cachedVerifier, parseHtpasswd, readHtpasswdFile, safeEqual, staticUsers } = await import(
  '../src/index.js'
);
const { htpasswdText, PASSWORDS } = await import('./helpers.js');

afterEach(() => {
  spies.timingSafeEqual!.mockClear();
});

describe('htpasswd users', () => {
  const users = parseHtpasswd(htpasswdText());

  it('accepts $2y$, $2a$ and $2b$ bcrypt hashes and skips comments and blank lines', async () => {
    expect(users.users).toEqual(['alice', 'bob', 'admin']);
    expect(await users.verify('alice', PASSWORDS.alice)).toBe(true); // $2y$
    expect(await users.verify('bob', PASSWORDS.bob)).toBe(true); // $2a$
    expect(await users.verify('admin', PASSWORDS.admin)).toBe(true); // $2b$
  });

  it('refuses wrong passwords, other users’ passwords and unknown users', async () => {
    expect(await users.verify('alice', `${PASSWORDS.alice}x`)).toBe(false);
    expect(await users.verify('alice', PASSWORDS.bob)).toBe(false);
    expect(await users.verify('alice', '')).toBe(false);
    expect(await users.verify('mallory', PASSWORDS.alice)).toBe(false);
  });

  it('compares hashes with crypto.timingSafeEqual, for known and unknown users alike', async () => {
    await users.verify('alice', PASSWORDS.alice);
    await users.verify('alice', 'wrong');
    await users.verify('nobody', 'wrong');
    expect(spies.timingSafeEqual).toHaveBeenCalledTimes(3);
  });

  it('costs an unknown user a bcrypt computation too (no fast path reveals which users exist)', async () => {
    const hash = vi.spyOn(bcrypt, 'hash');
    try {
      await users.verify('nobody', 'guess');
      // One for the decoy hash the first time, one for the check itself.
      expect(hash.mock.calls.length).toBeGreaterThanOrEqual(1);
      const before = hash.mock.calls.length;
      await users.verify('nobody-else', 'guess');
      expect(hash.mock.calls.length).toBe(before + 1);
    } finally {
      hash.mockRestore();
    }
  });

  it('refuses weak hash formats, malformed lines, duplicates and the reserved name', () => {
    expect(() => parseHtpasswd('alice:$apr1$abc$def')).toThrow(/line 1: only bcrypt/);
    expect(() => parseHtpasswd('alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=')).toThrow(/only bcrypt/);
    expect(() => parseHtpasswd('\nnocolon')).toThrow(/line 2: expected user:hash/);
    const line = `x:${bcrypt.hashSync('p', 4)}`;
    expect(() => parseHtpasswd(`${line}\n${line}`)).toThrow(/duplicate/);
    expect(() => parseHtpasswd(`anonymous:${bcrypt.hashSync('p', 4)}`)).toThrow(/reserved/);
  });

  it('reads a file, and never puts a hash or password in its errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-auth-htpasswd-'));
    try {
      await writeFile(join(dir, 'ok'), htpasswdText());
      expect((await readHtpasswdFile(join(dir, 'ok'))).users).toHaveLength(3);
      await writeFile(join(dir, 'bad'), 'alice:plaintext-secret');
      await expect(readHtpasswdFile(join(dir, 'bad'))).rejects.toThrow(/^(?!.*plaintext-secret)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('static users and comparisons', () => {
  it('checks plain passwords in constant time (timingSafeEqual on digests)', async () => {
    const users = staticUsers({ ci: 's3cret' });
    expect(await users.verify('ci', 's3cret')).toBe(true);
    expect(await users.verify('ci', 's3cre')).toBe(false);
    expect(await users.verify('other', 's3cret')).toBe(false);
    expect(await users.verify('constructor', '')).toBe(false);
    expect(spies.timingSafeEqual).toHaveBeenCalledTimes(4);
  });

  it('safeEqual compares via timingSafeEqual even when lengths differ', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(spies.timingSafeEqual).toHaveBeenCalledTimes(3);
  });

  it('caches successes (not failures) for a while', async () => {
    let calls = 0;
    const verify = cachedVerifier((_user, password) => {
      calls += 1;
      return password === 'right';
    }, 60);
    expect(await verify('u', 'right')).toBe(true);
    expect(await verify('u', 'right')).toBe(true);
    expect(calls).toBe(1);
    expect(await verify('u', 'wrong')).toBe(false);
    expect(await verify('u', 'wrong')).toBe(false);
    expect(calls).toBe(3);
    // A different password for the same user is checked, not served from the cache.
    expect(await verify('u', 'right2')).toBe(false);
  });
});
