function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A repository-name glob as a regular expression: `*` stays within one path component, `**` spans any. */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; ) {
    if (glob.startsWith('**', i)) {
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

/** Whether a name matches any of the globs. */
export function compileGlobs(globs: readonly string[]): (name: string) => boolean {
  const patterns = globs.map(globPattern);
  return (name) => patterns.some((pattern) => pattern.test(name));
}
