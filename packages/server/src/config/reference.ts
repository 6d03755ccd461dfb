import { UNSUPPORTED_KEYS } from './distribution.js';
import { LEGACY_VARIABLES } from './env.js';
import { settingsOf } from './introspect.js';
import { configSchema } from './schema.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function shownDefault(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value === '' ? '`""`' : `\`${value}\``;
  if (Array.isArray(value) && value.length === 0) return '`[]`';
  return `\`${JSON.stringify(value)}\``;
}

/** A Markdown table with aligned columns (as the formatter leaves it). */
function table(head: readonly string[], rows: readonly string[][]): string {
  const widths = head.map((title, i) => Math.max(3, title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ''].join('\n');
}

/** The settings reference (a Markdown table), generated from the schema. */
export function settingsReference(): string {
  return table(
    ['key', 'type', 'default', 'meaning'],
    settingsOf(configSchema)
      .filter((setting) => !setting.section)
      .map((s) => [`\`${s.path}\``, cell(s.type), cell(shownDefault(s.default)), cell(s.description)]),
  );
}

/** The variables the server read before its configuration file, and the keys they set. */
export function legacyReference(): string {
  return table(
    ['variable', 'sets'],
    LEGACY_VARIABLES.map((variable) => [`\`${variable.name}\``, cell(variable.setting)]),
  );
}

/** Distribution's keys wharf does not implement, and what happens to them. */
export function unsupportedReference(): string {
  return table(
    ['key', 'reported as', 'why'],
    UNSUPPORTED_KEYS.map((key) => [`\`${key.path}\``, key.severity, cell(key.reason)]),
  );
}

const SECTIONS: Record<string, () => string> = {
  settings: settingsReference,
  environment: legacyReference,
  unsupported: unsupportedReference,
};

/**
 * The README with its generated tables (between `<!-- generated:NAME -->` and
 * `<!-- /generated:NAME -->`) brought up to date.
 */
export function renderReadme(readme: string): string {
  return readme.replace(
    /(<!-- generated:(\w+) -->\n)[\s\S]*?(<!-- \/generated:\2 -->)/g,
    (_match, open: string, name: string, close: string) => {
      const render = SECTIONS[name];
      if (!render) throw new Error(`unknown generated section ${name}`);
      return `${open}\n${render()}\n${close}`;
    },
  );
}
