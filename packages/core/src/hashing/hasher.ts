import { createHash, type Hash } from 'node:crypto';
import { createBLAKE3, createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import type { DigestAlgorithm } from '../oci/digest.js';

/** Incremental digest computation. */
export interface Hasher {
  readonly algorithm: DigestAlgorithm;
  update(data: Uint8Array): void;
  /** `algorithm:hex` of everything so far; the hasher may continue afterwards. */
  digest(): string;
}

/**
 * A hasher whose state can be saved and loaded in another process (docs/architecture.md, upload
 * rule 2).
 */
export interface ResumableHasher extends Hasher {
  /** The state covering everything passed to `update` so far. */
  save(): Uint8Array;
}

/** A `node:crypto` hasher, whose live state can be kept (not saved) between requests. */
export interface NativeHasher extends Hasher {
  readonly hash: Hash;
}

const WASM: Record<DigestAlgorithm, () => Promise<IHasher>> = {
  sha256: createSHA256,
  sha512: createSHA512,
  blake3: () => createBLAKE3(256),
};

/** Whether `node:crypto` implements the algorithm (much faster than WebAssembly here). */
export function isNativeAlgorithm(algorithm: DigestAlgorithm): algorithm is 'sha256' | 'sha512' {
  return algorithm === 'sha256' || algorithm === 'sha512';
}

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
    digest: () => {
      // hash-wasm's digest ends the hasher: keep its state to carry on.
      const saved = wasm.save();
      const hex = wasm.digest('hex');
      wasm.init();
      wasm.load(saved);
      return `${algorithm}:${hex}`;
    },
    save: () => wasm.save(),
  };
}

/** A `node:crypto` hasher, optionally continuing a live one (which it copies, leaving it intact). */
export function createNativeHasher(algorithm: 'sha256' | 'sha512', from?: Hash): NativeHasher {
  const hash = from ? from.copy() : createHash(algorithm);
  return {
    algorithm,
    hash,
    update: (data) => {
      hash.update(data);
    },
    digest: () => `${algorithm}:${hash.copy().digest('hex')}`,
  };
}

/** The fastest hasher for data whose hashing state need not outlive the request. */
export async function createHasher(algorithm: DigestAlgorithm): Promise<Hasher> {
  return isNativeAlgorithm(algorithm) ? createNativeHasher(algorithm) : createResumableHasher(algorithm);
}

/** The digest of bytes in memory. */
export async function digestOf(algorithm: DigestAlgorithm, data: Uint8Array): Promise<string> {
  const hasher = await createHasher(algorithm);
  hasher.update(data);
  return hasher.digest();
}
