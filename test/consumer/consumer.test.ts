import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import {
  hasTool,
  layoutBlob,
  layoutDigest,
  makeRealImage,
  REPO_ROOT,
  run,
  type ScratchDir,
  scratch,
  writeOciLayout,
} from '@wharf/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isServerBlock } from '../readme-blocks.js';
import { type AppFile, consumerBlocks, installProject, OLD_AWS_SDK, packAll, writeApp } from './project.js';
import { publicPackages } from './workspace.js';

/**
 * What a user of the published packages gets: every public package packed with the repository's
 * own command, installed with plain npm into a fresh project outside the workspace (with an AWS
 * SDK more than a year older than the workspace's), publint and arethetypeswrong on each tarball,
 * strict `tsc` (`node16` as ES modules and as CommonJS, and `bundler`) over an app built from every
 * README example, every example run as ES modules and as CommonJS, a pino logger receiving 500s,
 * the conformance suites run by the consumer's vitest, and an image pushed and pulled with skopeo.
 *
 * Needs the npm registry; run with `pnpm test:consumer` (CI does).
 */
const dir = mkdtempSync(join(tmpdir(), 'wharf-consumer-'));
/**
 * The library packages (with an export map). A command-line package (`@wharf/server`: a `bin`, no
 * exports) has no types or entry points to check; it is installed and run instead.
 */
const LIBRARIES = new Set(
  publicPackages()
    .filter((p) => p.manifest.exports !== undefined)
    .map((p) => p.manifest.name),
);
const tarballDir = join(dir, 'tarballs');
const app = join(dir, 'app');
let tarballs: Map<string, string>;
let files: AppFile[];

const BIN = (name: string) => join(app, 'node_modules', '.bin', name);
const WORKSPACE_BIN = (name: string) => join(REPO_ROOT, 'node_modules', '.bin', name);
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Compiles one configuration of the consumer app once (emitting even when types fail). */
const builds = new Map<string, Promise<{ stdout: string; stderr: string }>>();
function build(kind: 'esm' | 'cjs' | 'bundler') {
  let built = builds.get(kind);
  if (!built) {
    built = run(process.execPath, [TSC, '-p', join(app, kind)], { timeoutMs: 600_000 });
    builds.set(kind, built);
  }
  return built;
}

beforeAll(async () => {
  mkdirSync(tarballDir);
  mkdirSync(app);
  tarballs = await packAll(tarballDir);
  await installProject(app, tarballs);
  files = writeApp(app, consumerBlocks(app));
}, 1_800_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a built program of the consumer app to completion; rejects with its output on failure. */
function runProgram(kind: 'esm' | 'cjs', name: string, cwd: string) {
  return run(process.execPath, [join(app, kind, 'dist', `${name}.js`)], {
    cwd,
    env: { PORT: '0' },
    timeoutMs: 120_000,
  });
}

/** A running server program; resolves with its URL once it prints `registry on <url>`. */
function startProgram(kind: 'esm' | 'cjs', name: string, cwd: string) {
  return startScript([join(app, kind, 'dist', `${name}.js`)], cwd);
}

/** Runs `node <args>` until it prints `registry on <url>` or `listening on <url>`. */
async function startScript(args: string[], cwd: string) {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "registry on" line:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /(?:registry|listening) on (http:\/\/[\d.:]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}

describe('the published packages, installed with npm', () => {
  it('packs every public package, with README, LICENSE, types and no source condition', async () => {
    expect([...tarballs.keys()].sort()).toEqual(publicPackages().map((p) => p.manifest.name));
    for (const [name, tarball] of tarballs) {
      const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n');
      expect(listing, name).toEqual(
        expect.arrayContaining(['package/README.md', 'package/LICENSE', 'package/CHANGELOG.md']),
      );
      if (LIBRARIES.has(name))
        expect(
          listing.some((file) => /^package\/dist\/.+\.d\.cts$/.test(file)),
          name,
        ).toBe(true);
      // Source maps point only at files the tarball carries, or carry the sources themselves
      // (the server's bundle embeds the workspace sources it compiled in).
      for (const map of listing.filter((file) => file.endsWith('.map'))) {
        const { sources, sourcesContent } = JSON.parse(
          (await run('tar', ['-xzOf', tarball, map])).stdout,
        ) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        for (const [index, source] of sources.entries()) {
          if (typeof sourcesContent?.[index] === 'string') continue;
          expect(listing, `${name}: ${map} -> ${source}`).toContain(posix.join(posix.dirname(map), source));
        }
      }
      const installed = readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8');
      // The in-repository source condition is gone from what resolves imports (a development
      // script may still name it).
      const { exports, typesVersions } = JSON.parse(installed) as {
        exports?: unknown;
        typesVersions?: unknown;
      };
      expect(JSON.stringify({ exports, typesVersions }), name).not.toContain('@wharf/source');
      expect(installed, name).not.toContain('workspace:');
    }
  });

  it('passes publint on every tarball', async () => {
    for (const tarball of tarballs.values()) {
      // --strict: warnings fail too.
      const { stdout } = await run(WORKSPACE_BIN('publint'), ['run', '--strict', tarball]);
      expect(stdout).toContain('All good!');
    }
  }, 300_000);

  it('passes arethetypeswrong on every library tarball', async () => {
    // attw checks types of entry points; a command-line package has none to resolve.
    for (const [name, tarball] of tarballs) {
      if (!LIBRARIES.has(name)) continue;
      // Every resolution mode, node10 included (typesVersions covers subpaths there).
      const { stdout } = await run(WORKSPACE_BIN('attw'), [tarball, '--format', 'ascii']);
      expect(stdout).toContain('No problems found');
    }
  }, 300_000);

  it.each(['esm', 'cjs', 'bundler'] as const)(
    'type-checks the app strictly (%s)',
    async (kind) => {
      await build(kind);
    },
    600_000,
  );

  describe.each(['esm', 'cjs'] as const)('run as %s', (kind) => {
    beforeAll(async () => {
      // The programs run even when the type check failed (reported above).
      await build(kind).catch(() => undefined);
      await build(kind === 'esm' ? 'cjs' : 'esm').catch(() => undefined);
    }, 600_000);

    it('imports every entry point, with the same exports as the other module system', async () => {
      const { stdout } = await runProgram(kind, 'entries', app);
      const exports = JSON.parse(stdout) as Record<string, string[]>;
      for (const [entry, names] of Object.entries(exports)) expect(names.length, entry).toBeGreaterThan(0);
      expect(Object.keys(exports)).toEqual(expect.arrayContaining([...LIBRARIES]));
      const other = JSON.parse((await runProgram(kind === 'esm' ? 'cjs' : 'esm', 'entries', app)).stdout);
      expect(exports).toEqual(other);
    });

    it('runs every README example', async () => {
      for (const file of files.filter((f) => f.block)) {
        const cwd = mkdtempSync(join(dir, `${kind}-${file.name}-`));
        if (isServerBlock(file.block!.code)) {
          const server = await startProgram(kind, file.name, cwd);
          try {
            const res = await fetch(`${server.url}/v2/`);
            expect(res.status, file.origin).toBe(200);
            expect(res.headers.get('docker-distribution-api-version'), file.origin).toBe('registry/2.0');
          } finally {
            await server.stop();
          }
        } else if (!file.block!.typesOnly) {
          await runProgram(kind, file.name, cwd).catch((error: Error) => {
            throw new Error(`${file.origin}: ${error.message}`);
          });
        }
      }
    }, 600_000);

    it('logs a 500 through pino with the error, its stack, the request and its id', async () => {
      const { stdout } = await runProgram(kind, 'logging', app);
      const { failure, bodyParser } = JSON.parse(stdout) as Record<
        'failure' | 'bodyParser',
        { status: number; requestId: string; body: string; lines: Array<Record<string, unknown>> }
      >;
      expect(failure!.status).toBe(500);
      const errors = failure!.lines.filter((line) => line.level === 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        msg: 'request failed',
        reqId: failure!.requestId,
        method: 'GET',
        path: expect.stringMatching(/^\/v2\/app\/blobs\/sha256:[0-9a-f]{64}$/),
        status: 500,
        err: { message: 'disk on fire', stack: expect.stringContaining('disk on fire\n    at ') },
      });
      // The expected 404s and the like of a push stay below info.
      expect(failure!.lines.filter((line) => (line.level as number) >= 30)).toHaveLength(1);

      expect(bodyParser!.status).toBe(500);
      expect(bodyParser!.body).toContain('mount the registry before body-parsing middleware');
      const parserErrors = bodyParser!.lines.filter((line) => line.level === 50);
      expect(parserErrors).toHaveLength(1);
      expect(parserErrors[0]).toMatchObject({
        reqId: bodyParser!.requestId,
        method: 'PUT',
        path: '/v2/app/manifests/v1',
        status: 500,
        err: {
          message: expect.stringMatching(/already read by middleware .* before body-parsing middleware/),
        },
      });
    });
  });

  it('runs the conformance suites with the consumer own vitest', async () => {
    const { stdout } = await run(BIN('vitest'), ['run', '--root', join(app, 'esm'), '--reporter', 'dot'], {
      cwd: app,
      env: { NO_COLOR: '1', FORCE_COLOR: '0' },
      timeoutMs: 600_000,
    });
    const text = stripVTControlCharacters(stdout);
    expect(text).toMatch(/Test Files\s+\d+ passed/);
    expect(text).toMatch(/Tests\s+\d+ passed/);
    expect(text).not.toMatch(/failed/);
  }, 600_000);

  describe.skipIf(!hasTool('skopeo'))('skopeo', () => {
    let work: ScratchDir;

    beforeAll(async () => {
      work = await scratch('wharf-consumer-skopeo-');
    });

    afterAll(async () => {
      await work?.remove();
    });

    it('pushes through the ES module build and pulls the same bytes through the CommonJS build', async () => {
      // The Storage example: filesystem storage in ./data, so both builds serve one root in turn.
      const storage = files.find(
        (f) => f.block?.readme === 'README.md' && f.block.code.includes('createFsStorage'),
      );
      expect(storage, 'the README has a filesystem storage example').toBeDefined();
      const root = join(work.dir, 'server');
      mkdirSync(root);
      const image = makeRealImage([{ randomFile: 300_000 }, { randomFile: 1000 }]);
      const source = join(work.dir, 'source');
      await writeOciLayout(source, [{ tag: 'v1', image }]);
      const skopeo = (args: string[]) => run('skopeo', args, { env: work.env, timeoutMs: 120_000 });

      const esm = await startProgram('esm', storage!.name, root);
      try {
        const host = esm.url.replace('http://', '');
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          `oci:${source}:v1`,
          `docker://${host}/consumer/app:v1`,
        ]);
      } finally {
        await esm.stop();
      }
      const cjs = await startProgram('cjs', storage!.name, root);
      try {
        const host = cjs.url.replace('http://', '');
        const pulled = join(work.dir, 'pulled');
        await skopeo([
          'copy',
          '--src-tls-verify=false',
          `docker://${host}/consumer/app:v1`,
          `oci:${pulled}:v1`,
        ]);
        expect(await layoutDigest(pulled, 'v1')).toBe(image.manifest.digest);
        for (const blob of [image.config, ...image.layers]) {
          expect((await layoutBlob(pulled, blob.digest)).equals(blob.bytes)).toBe(true);
        }
      } finally {
        await cjs.stop();
      }
    }, 300_000);
  });

  it('installs the wharf command, which checks a config file and serves from it', async () => {
    const wharf = join(app, 'node_modules', '@wharf', 'server', 'dist', 'cli.js');
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/server/package.json'), 'utf8'));
    expect((await run(BIN('wharf'), ['--version'])).stdout.trim()).toBe(version);
    const config = join(dir, 'config.yml');
    writeFileSync(config, 'version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:0\n');
    await run(BIN('wharf'), ['config', 'check', config]);
    const server = await startScript([wharf, 'serve', config], dir);
    try {
      const res = await fetch(`${server.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('pins an AWS SDK a year older than the workspace', () => {
    const installed = JSON.parse(
      readFileSync(join(app, 'node_modules', '@aws-sdk', 'client-s3', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(installed.version).toBe(OLD_AWS_SDK);
  });
});
