import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { renderReadme } from '../src/config/reference.js';
import { tempDir } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the server README', () => {
  it('has the settings, environment and unsupported-key tables the schema generates', () => {
    expect(readme).toContain('<!-- generated:settings -->');
    // Stale? Run `pnpm --filter @wharf/server docs`.
    expect(renderReadme(readme)).toBe(readme);
  });

  it('shows a configuration file that loads without a problem', async () => {
    const example = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const temp = await tempDir('wharf-readme-');
    try {
      const file = await temp.file('config.yml', example!);
      const { settings, problems } = await loadConfig({ file, env: {} });
      expect(problems).toEqual([]);
      expect(settings).toMatchObject({ storage: { driver: 'filesystem' }, auth: { kind: 'basic' } });
    } finally {
      await temp.remove();
    }
  });
});
