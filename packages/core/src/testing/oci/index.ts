import { describe } from 'vitest';
import type { Registry } from '../../registry.js';
import { GoClient } from './goclient.js';
import { configFromEnv, generateTestData } from './setup.js';
import { defineConformanceSuite } from './suite.js';
import { IN_PROCESS_ORIGIN, inProcessTransport, socketTransport } from './transports.js';

/** Options of {@link defineOciConformanceSuite}. */
export interface OciConformanceOptions {
  /** Shown in the test names. */
  readonly name: string;
  /**
   * The registry under test: in process, or listening at a URL (read when the first spec runs, so
   * a `beforeAll` may start the server).
   */
  readonly target: { readonly registry: Registry } | { readonly url: () => string };
  /**
   * The suite's environment (`OCI_NAMESPACE`, `OCI_AUTOMATIC_CROSSMOUNT`, …). Defaults: namespace
   * `myorg/myrepo`, every workflow on, automatic cross-mount on.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_ENV: Readonly<Record<string, string | undefined>> = {
  OCI_NAMESPACE: 'myorg/myrepo',
  OCI_TEST_PULL: '1',
  OCI_TEST_PUSH: '1',
  OCI_TEST_CONTENT_DISCOVERY: '1',
  OCI_TEST_CONTENT_MANAGEMENT: '1',
  OCI_AUTOMATIC_CROSSMOUNT: '1',
};

/**
 * Registers the OCI distribution-spec conformance suite v1.1.1 (all 79 specs, ported from the
 * official Go suite with its test data, request shapes and assertions) against a registry.
 */
export function defineOciConformanceSuite(options: OciConformanceOptions): void {
  const env = { ...DEFAULT_ENV, ...options.env };
  const config = configFromEnv(env);
  const { target } = options;
  const client =
    'registry' in target
      ? new GoClient(() => IN_PROCESS_ORIGIN, config.namespace, inProcessTransport(target.registry))
      : new GoClient(target.url, config.namespace, socketTransport());
  describe.sequential(`OCI conformance: ${options.name}`, () => {
    describe.sequential('OCI Distribution Conformance Tests', () => {
      defineConformanceSuite({ config, data: generateTestData(env), client });
    });
  });
}
