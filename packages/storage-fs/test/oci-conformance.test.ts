/** The OCI distribution-spec conformance suite (`@wharf/core/testing`) on filesystem storage. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry } from '@wharf/core';
import { defineOciConformanceSuite } from '@wharf/core/testing';
import { afterAll } from 'vitest';
import { createFsStorage } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-oci-fs-'));
const storage = await createFsStorage({ root });
afterAll(async () => {
  await storage.close();
  rmSync(root, { recursive: true, force: true });
});

defineOciConformanceSuite({ name: 'fs', target: { registry: createRegistry({ storage }) } });
