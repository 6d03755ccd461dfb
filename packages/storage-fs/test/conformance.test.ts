import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { defineGcSuite, defineStoreConformanceSuite, type StoreHarness } from '@wharf/core/testing';
import { createFsStorage, type FsStorage } from '@wharf/storage-fs';

/** Every file under `root`, as sorted relative paths (empty directories do not count). */
async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/** A fresh root per harness; `replica()` opens a second, independent storage on the same root. */
async function harness(): Promise<StoreHarness> {
  const root = await mkdtemp(join(tmpdir(), 'wharf-fs-conformance-'));
  const opened: FsStorage[] = [];
  const open = async (): Promise<FsStorage> => {
    const storage = await createFsStorage({ root });
    opened.push(storage);
    return storage;
  };
  const storage = await open();
  return {
    storage,
    inspect: () => files(root),
    replica: open,
    async cleanup() {
      for (const s of opened) await s.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

defineStoreConformanceSuite({ name: 'fs', create: harness });

defineGcSuite({ name: 'fs', create: harness });
