import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadme } from '../src/config/reference.js';

// Regenerates the README's settings tables from the configuration schema.
const path = new URL('../README.md', import.meta.url);
writeFileSync(path, renderReadme(readFileSync(path, 'utf8')));
