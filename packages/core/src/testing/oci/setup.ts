/**
 * The conformance suite's configuration (its environment variables, parsed as Go does) and test
 * data (`conformance/setup.go` `init()`), reproduced byte for byte.
 */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { goMarshalIndent } from './gojson.js';

/** Go's `strconv.ParseBool`; `undefined` where Go returns an error. */
export function parseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

export const PULL = 1;
export const PUSH = 2;
export const CONTENT_DISCOVERY = 4;
export const CONTENT_MANAGEMENT = 8;
const NUM_WORKFLOWS = 16;

/** The configuration `init()` derives from the environment. */
export interface ConformanceConfig {
  readonly namespace: string;
  readonly crossmountNamespace: string;
  readonly testsToRun: number;
  readonly tagName: string;
  readonly tagList: string;
  readonly runPullSetup: boolean;
  /** Always true in v1.1.1. */
  readonly runPushSetup: boolean;
  readonly runContentDiscoverySetup: boolean;
  /** Always true in v1.1.1. */
  readonly runContentManagementSetup: boolean;
  readonly deleteManifestBeforeBlobs: boolean;
  readonly runAutomaticCrossmountTest: boolean;
  readonly automaticCrossmountEnabled: boolean;
}

/** Reads the suite's environment variables exactly as `init()` does. */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): ConformanceConfig {
  const get = (name: string): string => env[name] ?? '';
  let testsToRun = 0;
  const flags: Array<[string, number]> = [
    ['OCI_TEST_PULL', PULL],
    ['OCI_TEST_PUSH', PUSH],
    ['OCI_TEST_CONTENT_DISCOVERY', CONTENT_DISCOVERY],
    ['OCI_TEST_CONTENT_MANAGEMENT', CONTENT_MANAGEMENT],
  ];
  for (const [name, flag] of flags) if (parseBool(get(name)) === true) testsToRun |= flag;
  const deleteOrder = env.OCI_DELETE_MANIFEST_BEFORE_BLOBS;
  const crossmount = env.OCI_AUTOMATIC_CROSSMOUNT;
  return {
    namespace: get('OCI_NAMESPACE'),
    crossmountNamespace: get('OCI_CROSSMOUNT_NAMESPACE') || `conformance-${randomUUID()}`,
    testsToRun,
    tagName: get('OCI_TAG_NAME'),
    tagList: get('OCI_TAG_LIST'),
    runPullSetup: !(
      get('OCI_TAG_NAME') !== '' &&
      get('OCI_MANIFEST_DIGEST') !== '' &&
      get('OCI_BLOB_DIGEST') !== ''
    ),
    runPushSetup: true,
    runContentDiscoverySetup: get('OCI_TAG_LIST') === '',
    runContentManagementSetup: true,
    deleteManifestBeforeBlobs: deleteOrder === undefined ? true : parseBool(deleteOrder) === true,
    runAutomaticCrossmountTest: crossmount !== undefined,
    automaticCrossmountEnabled: parseBool(crossmount ?? '') === true,
  };
}

export interface TestBlob {
  readonly content: Uint8Array;
  readonly contentLength: string;
  readonly digest: string;
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function base64(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString('base64');
}

const AUTHOR_LETTERS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';

/** `randomString(n)`: crypto-random characters. */
function randomString(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += AUTHOR_LETTERS[randomInt(AUTHOR_LETTERS.length)];
  return out;
}

/**
 * `randomBlob(size, seed)`: reproducible pseudo-random bytes for a seed. (Go uses `math/rand`;
 * the bytes themselves do not matter, only that they are fixed per seed.)
 */
export function randomBlob(size: number, seed: bigint): { digest: string; blob: Uint8Array } {
  let state = BigInt.asUintN(64, seed);
  const blob = new Uint8Array(size);
  for (let i = 0; i < size; i += 8) {
    // splitmix64
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    for (let j = 0; j < 8 && i + j < size; j++) blob[i + j] = Number((z >> BigInt(8 * j)) & 0xffn);
  }
  return { digest: sha256(blob), blob };
}

/** The chunked-upload blob (`setupChunkedBlob`). */
export interface ChunkedBlob {
  readonly blob: Uint8Array;
  readonly digest: string;
  readonly chunk1: Uint8Array;
  readonly chunk1Length: string;
  readonly chunk1Range: string;
  readonly chunk2: Uint8Array;
  readonly chunk2Length: string;
  readonly chunk2Range: string;
}

export function setupChunkedBlob(size: number, seed: bigint): ChunkedBlob {
  const { digest, blob } = randomBlob(size, seed + 2n);
  const split = Math.floor(size / 2) + 1;
  const chunk1 = blob.subarray(0, split);
  const chunk2 = blob.subarray(split);
  return {
    blob,
    digest,
    chunk1,
    chunk1Length: String(chunk1.length),
    chunk1Range: `0-${chunk1.length - 1}`,
    chunk2,
    chunk2Length: String(chunk2.length),
    chunk2Range: `${chunk1.length}-${blob.length - 1}`,
  };
}

/** `layerBase64String`: a gzipped tarball holding `test.txt`. */
const LAYER_BASE64 =
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0' +
  'WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD' +
  'jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const ANNOTATION_KEY = 'org.opencontainers.conformance.test';

/** A `descriptor` in Go field order, with Go's `omitempty` rules (`newUnspecifiedField` is always present). */
function descriptor(fields: {
  mediaType: string;
  digest: string;
  size: number;
  data?: Uint8Array;
  newUnspecifiedField?: Uint8Array;
}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    mediaType: fields.mediaType,
    digest: fields.digest,
    size: fields.size,
  };
  if (fields.data && fields.data.length > 0) out.data = base64(fields.data);
  out.newUnspecifiedField = fields.newUnspecifiedField ? base64(fields.newUnspecifiedField) : null;
  return out;
}

/** A `manifest` in Go field order (`mediaType`, `artifactType`, `subject`, `annotations` omitempty). */
function manifest(fields: {
  mediaType?: string;
  artifactType?: string;
  config: Record<string, unknown>;
  layers: Array<Record<string, unknown>>;
  subject?: Record<string, unknown>;
  annotations?: Record<string, string>;
}): Record<string, unknown> {
  const out: Record<string, unknown> = { schemaVersion: 2 };
  if (fields.mediaType) out.mediaType = fields.mediaType;
  if (fields.artifactType) out.artifactType = fields.artifactType;
  out.config = fields.config;
  out.layers = fields.layers;
  if (fields.subject) out.subject = fields.subject;
  if (fields.annotations) out.annotations = fields.annotations;
  return out;
}

/** Everything `init()` generates. */
export interface TestData {
  readonly seed: bigint;
  readonly configs: readonly TestBlob[];
  readonly manifests: readonly TestBlob[];
  readonly layerBlobData: Uint8Array;
  readonly layerBlobDigest: string;
  readonly layerBlobContentLength: string;
  readonly emptyLayerManifestContent: Uint8Array;
  readonly emptyLayerManifestDigest: string;
  readonly nonexistentManifest: string;
  readonly invalidManifestContent: Uint8Array;
  readonly testBlobA: Uint8Array;
  readonly testBlobALength: string;
  readonly testBlobADigest: string;
  readonly emptyJSONBlob: Uint8Array;
  readonly emptyJSONDescriptor: {
    readonly mediaType: string;
    readonly size: number;
    readonly digest: string;
  };
  readonly testRefBlobA: Uint8Array;
  readonly testRefBlobALength: string;
  readonly testRefBlobADigest: string;
  readonly testRefArtifactTypeA: string;
  readonly testRefBlobB: Uint8Array;
  readonly testRefBlobBLength: string;
  readonly testRefBlobBDigest: string;
  readonly testRefArtifactTypeB: string;
  readonly testRefArtifactTypeIndex: string;
  readonly testAnnotationValues: ReadonlyMap<string, string>;
  readonly refsManifestAConfigArtifactContent: Uint8Array;
  readonly refsManifestAConfigArtifactDigest: string;
  readonly refsManifestALayerArtifactContent: Uint8Array;
  readonly refsManifestALayerArtifactDigest: string;
  readonly refsManifestBConfigArtifactContent: Uint8Array;
  readonly refsManifestBConfigArtifactDigest: string;
  readonly refsManifestBLayerArtifactContent: Uint8Array;
  readonly refsManifestBLayerArtifactDigest: string;
  readonly refsManifestCLayerArtifactContent: Uint8Array;
  readonly refsManifestCLayerArtifactDigest: string;
  readonly refsIndexArtifactContent: Uint8Array;
  readonly refsIndexArtifactDigest: string;
  readonly dummyDigest: string;
  readonly errorCodes: readonly string[];
}

/** `init()`: the test data. `seed` stands in for Ginkgo's random seed. */
export function generateTestData(
  env: Readonly<Record<string, string | undefined>>,
  seed: bigint = randomBytes(8).readBigInt64BE(),
): TestData {
  const blobDigestOverride = env.OCI_BLOB_DIGEST ?? '';
  const manifestDigestOverride = env.OCI_MANIFEST_DIGEST ?? '';

  const configs: TestBlob[] = [];
  for (let i = 0; i < NUM_WORKFLOWS; i++) {
    const content = goMarshalIndent({
      author: randomString(16),
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    });
    configs.push({
      content,
      contentLength: String(content.length),
      digest: blobDigestOverride || sha256(content),
    });
  }

  const layerBlobData = new Uint8Array(Buffer.from(LAYER_BASE64, 'base64'));
  const layerBlobDigest = sha256(layerBlobData);
  const layers = [descriptor({ mediaType: LAYER_TYPE, size: layerBlobData.length, digest: layerBlobDigest })];
  const hello = new TextEncoder().encode('hello world');
  const configDescriptor = (config: TestBlob) =>
    descriptor({
      mediaType: CONFIG_TYPE,
      digest: config.digest,
      size: config.content.length,
      data: config.content,
      newUnspecifiedField: hello,
    });

  const manifests: TestBlob[] = [];
  for (let i = 0; i < NUM_WORKFLOWS; i++) {
    const content = goMarshalIndent(
      manifest({ mediaType: MANIFEST_TYPE, config: configDescriptor(configs[i]!), layers }),
    );
    manifests.push({
      content,
      contentLength: String(content.length),
      digest: manifestDigestOverride || sha256(content),
    });
  }

  const emptyLayerManifestContent = goMarshalIndent(
    manifest({ config: configDescriptor(configs[1]!), layers: [] }),
  );

  const { digest: testBlobADigest, blob: testBlobA } = randomBlob(42, seed + 1n);

  const emptyJSONBlob = new TextEncoder().encode('{}');
  const emptyJSONDescriptor = {
    mediaType: 'application/vnd.oci.empty.v1+json',
    size: emptyJSONBlob.length,
    digest: sha256(emptyJSONBlob),
  };
  const emptyJSON = descriptor(emptyJSONDescriptor);

  const testRefBlobA = new TextEncoder().encode('NHL Peanut Butter on my NHL bagel');
  const testRefArtifactTypeA = 'application/vnd.nhl.peanut.butter.bagel';
  const testRefBlobB = new TextEncoder().encode('NBA Strawberry Jam on my NBA croissant');
  const testRefArtifactTypeB = 'application/vnd.nba.strawberry.jam.croissant';
  const testRefArtifactTypeIndex = 'application/vnd.food.stand';
  const testAnnotationValues = new Map<string, string>();

  const subjectOf = (target: TestBlob) =>
    descriptor({ mediaType: MANIFEST_TYPE, size: target.content.length, digest: sha256(target.content) });
  const refA = descriptor({
    mediaType: testRefArtifactTypeA,
    size: testRefBlobA.length,
    digest: sha256(testRefBlobA),
  });
  const refB = descriptor({
    mediaType: testRefArtifactTypeB,
    size: testRefBlobB.length,
    digest: sha256(testRefBlobB),
  });

  const referrer = (fields: Parameters<typeof manifest>[0]) => {
    const content = goMarshalIndent(manifest(fields));
    const digest = sha256(content);
    const value = fields.annotations?.[ANNOTATION_KEY];
    if (value !== undefined) testAnnotationValues.set(digest, value);
    return { content, digest };
  };
  const aConfig = referrer({
    mediaType: MANIFEST_TYPE,
    config: refA,
    layers: [emptyJSON],
    subject: subjectOf(manifests[4]!),
    annotations: { [ANNOTATION_KEY]: 'test config a' },
  });
  const bConfig = referrer({
    mediaType: MANIFEST_TYPE,
    config: refB,
    layers: [emptyJSON],
    subject: subjectOf(manifests[4]!),
    annotations: { [ANNOTATION_KEY]: 'test config b' },
  });
  const aLayer = referrer({
    mediaType: MANIFEST_TYPE,
    artifactType: testRefArtifactTypeA,
    config: emptyJSON,
    layers: [refA],
    subject: subjectOf(manifests[4]!),
    annotations: { [ANNOTATION_KEY]: 'test layer a' },
  });
  const bLayer = referrer({
    mediaType: MANIFEST_TYPE,
    artifactType: testRefArtifactTypeB,
    config: emptyJSON,
    layers: [refB],
    subject: subjectOf(manifests[4]!),
    annotations: { [ANNOTATION_KEY]: 'test layer b' },
  });
  const cLayer = referrer({
    mediaType: MANIFEST_TYPE,
    artifactType: testRefArtifactTypeB,
    config: emptyJSON,
    layers: [refB],
    subject: subjectOf(manifests[3]!),
  });

  const indexContent = goMarshalIndent({
    schemaVersion: 2,
    mediaType: INDEX_TYPE,
    artifactType: testRefArtifactTypeIndex,
    manifests: [
      descriptor({ mediaType: MANIFEST_TYPE, size: aConfig.content.length, digest: aConfig.digest }),
      descriptor({ mediaType: MANIFEST_TYPE, size: aLayer.content.length, digest: aLayer.digest }),
    ],
    subject: subjectOf(manifests[4]!),
    annotations: { [ANNOTATION_KEY]: 'test index' },
  });
  const indexDigest = sha256(indexContent);
  testAnnotationValues.set(indexDigest, 'test index');

  return {
    seed,
    configs,
    manifests,
    layerBlobData,
    layerBlobDigest,
    layerBlobContentLength: String(layerBlobData.length),
    emptyLayerManifestContent,
    emptyLayerManifestDigest: sha256(emptyLayerManifestContent),
    nonexistentManifest: '.INVALID_MANIFEST_NAME',
    invalidManifestContent: new TextEncoder().encode('blablabla'),
    testBlobA,
    testBlobALength: String(testBlobA.length),
    testBlobADigest,
    emptyJSONBlob,
    emptyJSONDescriptor,
    testRefBlobA,
    testRefBlobALength: String(testRefBlobA.length),
    testRefBlobADigest: sha256(testRefBlobA),
    testRefArtifactTypeA,
    testRefBlobB,
    testRefBlobBLength: String(testRefBlobB.length),
    testRefBlobBDigest: sha256(testRefBlobB),
    testRefArtifactTypeB,
    testRefArtifactTypeIndex,
    testAnnotationValues,
    refsManifestAConfigArtifactContent: aConfig.content,
    refsManifestAConfigArtifactDigest: aConfig.digest,
    refsManifestALayerArtifactContent: aLayer.content,
    refsManifestALayerArtifactDigest: aLayer.digest,
    refsManifestBConfigArtifactContent: bConfig.content,
    refsManifestBConfigArtifactDigest: bConfig.digest,
    refsManifestBLayerArtifactContent: bLayer.content,
    refsManifestBLayerArtifactDigest: bLayer.digest,
    refsManifestCLayerArtifactContent: cLayer.content,
    refsManifestCLayerArtifactDigest: cLayer.digest,
    refsIndexArtifactContent: indexContent,
    refsIndexArtifactDigest: indexDigest,
    dummyDigest: sha256('hello world'),
    // Indexed by Go's iota, which starts at 5 after the workflow flags: indices 0-4 are "".
    errorCodes: [
      '',
      '',
      '',
      '',
      '',
      'BLOB_UNKNOWN',
      'BLOB_UPLOAD_INVALID',
      'BLOB_UPLOAD_UNKNOWN',
      'DIGEST_INVALID',
      'MANIFEST_BLOB_UNKNOWN',
      'MANIFEST_INVALID',
      'MANIFEST_UNKNOWN',
      'MANIFEST_UNVERIFIED',
      'NAME_INVALID',
      'NAME_UNKNOWN',
      'SIZE_INVALID',
      'TAG_INVALID',
      'UNAUTHORIZED',
      'DENIED',
      'UNSUPPORTED',
    ],
  };
}
