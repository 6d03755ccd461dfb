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

/** The settings reference (a Markdown table), generated from the schema. */
export function settingsReference(): string {
  const rows = settingsOf(configSchema)
    .filter((setting) => !setting.section)
    .map(
      (s) =>
        `| \`${s.path}\` | ${cell(s.type)} | ${cell(shownDefault(s.default))} | ${cell(s.description)} |`,
    );
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows, ''].join('\n');
}
