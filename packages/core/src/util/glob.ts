function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A repository-name glob as a regular expression matching whole names: `*` matches within one
 * path component, `**` across any number of them, and each placeholder (`{user}`) matches exactly
 * the text given for it. The language of access rules and of upstreams' `allow` / `deny`.
 *
 * @example
 * ```ts
 * repositoryGlob('library/*').test('library/alpine'); // true
 * repositoryGlob('{user}/**', { '{user}': 'alice' }).test('alice/team/app'); // true
 * ```
 */
export function repositoryGlob(glob: string, placeholders: Readonly<Record<string, string>> = {}): RegExp {
  const names = Object.keys(placeholders);
  let source = '';
  for (let i = 0; i < glob.length; ) {
    const placeholder = names.find((name) => glob.startsWith(name, i));
    if (placeholder !== undefined) {
      source += escapeRegExp(placeholders[placeholder]!);
      i += placeholder.length;
    } else if (glob.startsWith('**', i)) {
      source += '.*';
      i += 2;
    } else if (glob[i] === '*') {
      source += '[^/]*';
      i += 1;
    } else {
      source += escapeRegExp(glob[i]!);
      i += 1;
    }
  }
  return new RegExp(`^${source}$`);
}

/** Whether a name matches any of the globs (see {@link repositoryGlob}). */
export function compileGlobs(globs: readonly string[]): (name: string) => boolean {
  const patterns = globs.map((glob) => repositoryGlob(glob));
  return (name) => patterns.some((pattern) => pattern.test(name));
}
