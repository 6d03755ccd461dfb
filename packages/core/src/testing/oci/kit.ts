/**
 * What the conformance suite's specs share (`suite.ts` and its four sections): the Go suite's
 * assertion helpers, its constants, and the state and requests every section uses.
 */
import { expect, it, type TestContext } from 'vitest';
import type { GoClient, GoRequest, GoResponse } from './goclient.js';
import { type GoTagList, goUnmarshal, TAG_LIST } from './gojson.js';
import type { ConformanceConfig, TestData } from './setup.js';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const OCTET_STREAM = 'application/octet-stream';
/** `artifactTypeFilter`: the expected `OCI-Filters-Applied` value. */
export const ARTIFACT_TYPE_FILTER = 'artifactType';

/** One spec's body. */
export type Spec = (ctx: TestContext) => Promise<void>;
/** A matcher of response statuses. */
export type StatusCheck = (status: number) => boolean;

export const is2xx: StatusCheck = (s) => s >= 200 && s < 300;
export const oneOf =
  (...allowed: number[]): StatusCheck =>
  (s) =>
    allowed.includes(s);
export const any =
  (...checks: StatusCheck[]): StatusCheck =>
  (s) =>
    checks.some((check) => check(s));

/** `Expect(resp.StatusCode()).To(...)`, with the exchange in the failure message. */
export function expectStatus(resp: GoResponse, check: StatusCheck, expected: string): void {
  const status = resp.statusCode();
  if (!check(status)) expect.fail(`expected status ${expected}, got ${status}\n${resp.describe()}`);
}

/** `Expect(value).To(Equal(expected))` on a response header or derived value. */
export function expectEqual(actual: unknown, expected: unknown, what: string, resp?: GoResponse): void {
  expect(actual, `${what}${resp ? `\n${resp.describe()}` : ''}`).toStrictEqual(expected);
}

/** `Expect(value).ToNot(BeEmpty())`. */
export function expectNotEmpty(value: string, what: string, resp: GoResponse): void {
  expect(value, `${what} is empty\n${resp.describe()}`).not.toBe('');
}

/** `Warn(msg)`: printed, never a failure. */
export function warn(message: string): void {
  console.warn(`WARNING: ${message}`);
}

/** Go's `strconv.Atoi`; `undefined` on error. */
export function atoi(value: string): number | undefined {
  if (!/^[+-]?\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `getTagList`: the tags, or none when the body does not decode. */
export function getTagList(resp: GoResponse): string[] {
  const decoded = goUnmarshal<GoTagList>(resp.body(), TAG_LIST);
  if (decoded.error) return [];
  return decoded.value.tags ?? [];
}

/** What the suite runs against and with. */
export interface ConformanceSuiteOptions {
  readonly config: ConformanceConfig;
  readonly data: TestData;
  readonly client: GoClient;
}

/** The suite's shared state and requests, handed to each section. */
export interface SuiteKit extends ConformanceSuiteOptions {
  /** Defines one spec (Go's `g.Specify`), counted. */
  specify(title: string, fn: Spec): void;
  /** The number of specs defined so far. */
  defined(): number;
  /** Skips the spec when its workflow is not enabled. */
  skipIfDisabled(ctx: TestContext, workflow: number): void;
  runOnlyIf(ctx: TestContext, condition: boolean): void;
  runOnlyIfNot(ctx: TestContext, condition: boolean): void;
  /** POST an upload, then PUT the bytes to its Location (the setup specs' two-step upload). */
  pushBlob(digest: string, length: string, content: Uint8Array): Promise<void>;
  putManifest(reference: string, content: Uint8Array, contentType?: string): GoRequest;
  deleteManifest(digest: string): Promise<GoResponse>;
  deleteBlob(digest: string): Promise<GoResponse>;
}

/** The kit over one registry's client and test data. */
export function createSuiteKit({ config, data, client }: ConformanceSuiteOptions): SuiteKit {
  let defined = 0;
  const runOnlyIf = (ctx: TestContext, condition: boolean): void => {
    if (!condition) ctx.skip('you have skipped this test.');
  };
  return {
    config,
    data,
    client,
    specify: (title, fn) => {
      defined++;
      it(title, fn);
    },
    defined: () => defined,
    skipIfDisabled: (ctx, workflow) => {
      if ((workflow & config.testsToRun) === 0) {
        ctx.skip('you have skipped this test; if this is an error, check your environment variable settings');
      }
    },
    runOnlyIf,
    runOnlyIfNot: (ctx, condition) => runOnlyIf(ctx, !condition),
    pushBlob: async (digest, length, content) => {
      const post = await client.do(client.newRequest('POST', '/v2/<name>/blobs/uploads/'));
      const resp = await client.do(
        client
          .newRequest('PUT', post.getRelativeLocation())
          .setQueryParam('digest', digest)
          .setHeader('Content-Type', OCTET_STREAM)
          .setHeader('Content-Length', length)
          .setBody(content),
      );
      expectStatus(resp, is2xx, '2xx');
    },
    putManifest: (reference, content, contentType = MANIFEST_TYPE) =>
      client
        .newRequest('PUT', '/v2/<name>/manifests/<reference>', { reference })
        .setHeader('Content-Type', contentType)
        .setBody(content),
    deleteManifest: (digest) =>
      client.do(client.newRequest('DELETE', '/v2/<name>/manifests/<digest>', { digest })),
    deleteBlob: (digest) => client.do(client.newRequest('DELETE', '/v2/<name>/blobs/<digest>', { digest })),
  };
}
