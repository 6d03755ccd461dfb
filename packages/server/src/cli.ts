#!/usr/bin/env node
import { formatProblem, type LoadedConfig, loadConfig } from './config/load.js';
import { settingsReference } from './config/reference.js';
import type { Settings } from './config/settings.js';
import type { ServerStorage } from './storage/index.js';
import { VERSION } from './version.js';

const USAGE = `usage: wharf [command] [config.yml]

  serve [config.yml]           serve the registry (the default command)
  gc [config.yml] [options]    collect garbage once, then exit (wharf gc --help)
  events <list|replay|discard> [config.yml] [options]
                               notifications not delivered yet (wharf events --help)
  config check <config.yml>    report every problem of a configuration file
  config print [config.yml]    print the effective configuration (secrets redacted)
  config reference             print the settings reference (Markdown)
  --version                    print the version

The configuration file defaults to $REGISTRY_CONFIGURATION_PATH; without one, the defaults and
the environment (REGISTRY_*, legacy WHARF_*/S3_* variables) configure the server.`;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

/** Loads the configuration; prints its errors (one line each) and returns undefined on any. */
async function load(file: string | undefined): Promise<(LoadedConfig & { settings: Settings }) | undefined> {
  const loaded = await loadConfig({ file });
  if (loaded.settings) return loaded as LoadedConfig & { settings: Settings };
  for (const problem of loaded.problems.filter((p) => p.severity === 'error'))
    err(`wharf: ${formatProblem(problem)}`);
  return undefined;
}

function fileArgument(args: readonly string[]): { file: string | undefined; rest: string[] } {
  const positional = args.filter((arg) => !arg.startsWith('-'));
  const file = positional[0] ?? (process.env.REGISTRY_CONFIGURATION_PATH || undefined);
  return { file, rest: args.filter((arg) => arg.startsWith('-')) };
}

async function configCommand(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'reference') {
    process.stdout.write(settingsReference());
    return 0;
  }
  if (sub === 'check') {
    const file = rest[0];
    if (!file) {
      err('usage: wharf config check <config.yml>');
      return 2;
    }
    const loaded = await loadConfig({ file });
    for (const problem of loaded.problems) out(formatProblem(problem));
    const errors = loaded.problems.filter((p) => p.severity === 'error').length;
    const warnings = loaded.problems.filter((p) => p.severity === 'warning').length;
    out(
      `${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`,
    );
    return errors > 0 ? 1 : 0;
  }
  if (sub === 'print') {
    const { file } = fileArgument(rest);
    const loaded = await load(file);
    if (!loaded) return 2;
    const [{ redact }, { secretPaths }, { configSchema }, { stringify }] = await Promise.all([
      import('./config/redact.js'),
      import('./config/introspect.js'),
      import('./config/schema.js'),
      import('yaml'),
    ]);
    process.stdout.write(stringify(redact(loaded.config, secretPaths(configSchema))));
    return 0;
  }
  err('usage: wharf config check <config.yml> | config print [config.yml] | config reference');
  return 2;
}

async function gcCommand(args: readonly string[]): Promise<number> {
  const { parseGcArguments, runGcCommand, GC_USAGE } = await import('./gc.js');
  const { file, rest } = fileArgument(args);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(GC_USAGE);
    return 0;
  }
  const loaded = await load(file);
  if (!loaded) return 2;
  const { settings } = loaded;
  const parsed = parseGcArguments(rest, {
    gracePeriod: settings.gc.gracePeriod,
    deleteUntagged: settings.gc.deleteUntagged,
    uploadMaxAge: settings.uploadPurging.maxAge,
  });
  if ('error' in parsed) {
    err(`wharf gc: ${parsed.error}`);
    err(GC_USAGE);
    return 2;
  }
  const { createRegistry } = await import('@wharf/core');
  return withStorage('gc', settings, async (storage) => {
    let registry: ReturnType<typeof createRegistry>;
    try {
      // Upstreams too: a collection applies their caches' lifecycles.
      registry = createRegistry({ storage: storage.storage, upstreams: settings.upstreams });
    } catch (error) {
      err(`wharf gc: ${(error as Error).message}`);
      return 2;
    }
    return runGcCommand(registry, parsed.options, process);
  });
}

/** Opens the configured storage for a one-off command, runs it, and closes the storage. */
async function withStorage(
  command: string,
  settings: Settings,
  run: (storage: ServerStorage) => Promise<number>,
): Promise<number> {
  const { createStorage } = await import('./storage/index.js');
  let storage: ServerStorage;
  try {
    storage = await createStorage(settings.storage);
  } catch (error) {
    err(`wharf ${command}: storage: ${(error as Error).message}`);
    return 1;
  }
  try {
    return await run(storage);
  } finally {
    await storage.close();
  }
}

async function eventsCommand(args: readonly string[]): Promise<number> {
  const { parseEventsArguments, runEventsCommand, EVENTS_USAGE } = await import('./events/command.js');
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    out(EVENTS_USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const parsed = parseEventsArguments(args);
  if ('error' in parsed) {
    err(`wharf events: ${parsed.error}`);
    err(EVENTS_USAGE);
    return 2;
  }
  const loaded = await load(parsed.file);
  if (!loaded) return 2;
  const { settings } = loaded;
  if (!settings.events) {
    err('wharf events: no notification endpoint is configured (notifications.endpoints)');
    return 2;
  }
  const { createEventDispatcher } = await import('@wharf/core');
  const options = settings.events;
  return withStorage('events', settings, async (storage) => {
    const store = storage.storage.events;
    if (!store) {
      err(`wharf events: the ${settings.storage.driver} storage keeps no outbox`);
      return 2;
    }
    const events = createEventDispatcher({ ...options, store, autoStart: false });
    try {
      return await runEventsCommand(events, parsed, out, err);
    } finally {
      await events.close();
    }
  });
}

async function serveCommand(args: readonly string[]): Promise<number | undefined> {
  const { file } = fileArgument(args);
  const loaded = await load(file);
  if (!loaded) return 2;
  const [{ serve, StartError }, { createLogger }] = await Promise.all([
    import('./serve.js'),
    import('./logging.js'),
  ]);
  const logger = createLogger(loaded.settings.log);
  try {
    await serve(loaded, file, logger);
    return undefined;
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    logger.flush();
    err(`wharf: ${error.message}`);
    return error.exitCode;
  }
}

async function main(argv: readonly string[]): Promise<number | undefined> {
  const [command, ...args] = argv;
  switch (command) {
    case '--version':
    case '-v':
    case 'version':
      out(VERSION);
      return 0;
    case '--help':
    case '-h':
    case 'help':
      out(USAGE);
      return 0;
    case 'config':
      return configCommand(args);
    case 'gc':
      return gcCommand(args);
    case 'events':
      return eventsCommand(args);
    case 'serve':
      return serveCommand(args);
    case undefined:
      return serveCommand([]);
    default:
      if (command.endsWith('.yml') || command.endsWith('.yaml')) return serveCommand(argv);
      err(`wharf: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    err(`wharf: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
