import { createHash } from 'node:crypto';
import { createBLAKE3, createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { DigestAlgorithm } from '../oci/digest.js';

/** Incremental digest computation. */
export interface Hasher {
  readonly algorithm: DigestAlgorithm;
  update(data: Uint8Array): void;
  /** `algorithm:hex`. Ends the hasher. */
  digest(): string;
}

/** A hasher whose state can be saved and loaded in another process (DESIGN rule 2). */
export interface ResumableHasher extends Hasher {
  /** The state covering everything passed to `update` so far. */
  save(): Uint8Array;
}

const WASM: Record<DigestAlgorithm, () => Promise<IHasher>> = {
  sha256: createSHA256,
  sha512: createSHA512,
  blake3: () => createBLAKE3(256),
};

/** A resumable hasher (hash-wasm), optionally continuing from a saved state. */
export async function createResumableHasher(
  algorithm: DigestAlgorithm,
  state?: Uint8Array,
): Promise<ResumableHasher> {
  const wasm = await WASM[algorithm]();
  wasm.init();
  if (state) wasm.load(state);
  return {
    algorithm,
    update: (data) => {
      wasm.update(data);
    },
    digest: () => `${algorithm}:${wasm.digest('hex')}`,
    save: () => wasm.save(),
  };
}

/**
 * The fastest hasher for a single-request upload, whose state never outlives the request:
 * `node:crypto` where it has the algorithm.
 */
export async function createHasher(algorithm: DigestAlgorithm): Promise<Hasher> {
  if (algorithm === 'blake3') return createResumableHasher(algorithm);
  const hash = createHash(algorithm);
  return {
    algorithm,
    update: (data) => {
      hash.update(data);
    },
    digest: () => `${algorithm}:${hash.digest('hex')}`,
  };
}

/** The digest of bytes in memory. */
export async function digestOf(algorithm: DigestAlgorithm, data: Uint8Array): Promise<string> {
  const hasher = await createHasher(algorithm);
  hasher.update(data);
  return hasher.digest();
}
