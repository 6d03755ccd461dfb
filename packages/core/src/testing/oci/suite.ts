/**
 * The OCI distribution-spec conformance suite v1.1.1 (`opencontainers/distribution-spec/conformance`,
 * 79 specs), ported spec for spec: same order, titles, requests, state carried between specs and
 * assertions. Go's `g.Skip` becomes `ctx.skip`, `Warn` a warning on stderr that never fails. The
 * four workflows live in their own files, in the Go suite's order.
 */
import { beforeAll } from 'vitest';
import { defineDiscoverySpecs } from './discovery.js';
import { type ConformanceSuiteOptions, createSuiteKit } from './kit.js';
import { defineManagementSpecs } from './management.js';
import { definePullSpecs } from './pull.js';
import { definePushSpecs } from './push.js';

/** The number of specs in v1.1.1. */
export const SPEC_COUNT = 79;

/** Defines the 79 specs (call inside a `describe`). */
export function defineConformanceSuite(options: ConformanceSuiteOptions): void {
  const kit = createSuiteKit(options);
  definePullSpecs(kit);
  definePushSpecs(kit);
  defineDiscoverySpecs(kit);
  defineManagementSpecs(kit);

  // Runs once collection (which defines the specs above) is complete.
  beforeAll(() => {
    if (kit.defined() !== SPEC_COUNT)
      throw new Error(`defined ${kit.defined()} specs, expected ${SPEC_COUNT}`);
  });
}
