// What "near-duplicate" means for the policy's nearDuplicates setting: the Jaccard similarity of
// two texts' n-gram sets (the words and adjacent word pairs the text model sees), estimated from
// MinHash signatures, and the LSH bands under which the review API stores and finds them. Pure:
// the same text always gets the same signature, in any process.
import { createHash } from 'node:crypto';

/** Hash functions in a signature: the estimate's standard error is √(J(1−J)/128), 0.027 at 0.9. */
export const MINHASH_SIZE = 128;
/**
 * LSH bands of a signature, each of MINHASH_ROWS values. Two texts share at least one band with
 * probability 1 − (1 − J⁸)¹⁶: 0.9999 at J = 0.9, 0.95 at 0.8 (the loosest setting), 0.06 at 0.5.
 * Texts that share none are never compared, so a lookup is an index probe, not a scan.
 */
export const MINHASH_BANDS = 16;
export const MINHASH_ROWS = MINHASH_SIZE / MINHASH_BANDS;

// Must match @hitl/model's tokenize.ts (tested against it): ASCII letters lowercased, tokens of
// [a-zA-Z0-9'], unigrams and adjacent bigrams joined by one space. Kept here so that the review
// API, which never loads a model, does not depend on onnxruntime.
const TOKEN_REGEX = /[a-zA-Z0-9']+/g;

/** The unigrams and adjacent bigrams of a text as the text model tokenizes it, in text order. */
function* ngrams(text: string): Generator<string> {
  let previous: string | undefined;
  for (const [token] of text.replace(/[A-Z]+/g, (s) => s.toLowerCase()).matchAll(TOKEN_REGEX)) {
    yield token;
    if (previous !== undefined) yield `${previous} ${token}`;
    previous = token;
  }
}

/** The distinct unigrams and adjacent bigrams of a text, as the text model tokenizes it. */
export function ngramSet(text: string): Set<string> {
  return new Set(ngrams(text));
}

// Seeds of the hash functions: fixed forever, as stored signatures are compared with new ones.
const SEEDS = (() => {
  const seeds = new Uint32Array(MINHASH_SIZE);
  let state = 0x9e3779b9;
  for (let i = 0; i < MINHASH_SIZE; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    seeds[i] = fmix32(state ^ 0x85ebca6b);
  }
  return seeds;
})();

// MurmurHash3's finaliser: a bijection of 32-bit integers that mixes every bit into every bit.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// FNV-1a over UTF-16 code units.
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The most distinct n-grams a signature covers, the first ones in the text: a bound on its cost
 * (MINHASH_SIZE mixes each, some 20 ms at the bound) whatever the text's length. Texts of more
 * than about 5,000 different words are compared on their first 5,000 or so.
 */
export const MAX_SIGNATURE_NGRAMS = 10_000;

/**
 * The MinHash signature of a text's n-gram set: for each of MINHASH_SIZE hash functions (each a
 * fixed permutation of 32-bit n-gram hashes), the least value over the set (its first
 * MAX_SIGNATURE_NGRAMS). Null for a text with no tokens, which has nothing to compare.
 */
export function minHashSignature(text: string): Uint32Array | null {
  const bases = new Set<number>();
  for (const ngram of ngrams(text)) {
    if (bases.size >= MAX_SIGNATURE_NGRAMS) break;
    bases.add(fnv1a(ngram));
  }
  if (bases.size === 0) return null;
  const signature = new Uint32Array(MINHASH_SIZE).fill(0xffffffff);
  for (const base of bases) {
    for (let i = 0; i < MINHASH_SIZE; i++) {
      const h = fmix32(base ^ SEEDS[i]!);
      if (h < signature[i]!) signature[i] = h;
    }
  }
  return signature;
}

/** The estimated Jaccard similarity of two signatures' sets: the share of equal positions. */
export function estimatedSimilarity(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== MINHASH_SIZE || b.length !== MINHASH_SIZE) return 0;
  let equal = 0;
  for (let i = 0; i < MINHASH_SIZE; i++) if (a[i] === b[i]) equal++;
  return equal / MINHASH_SIZE;
}

/**
 * The signature's LSH band keys, as signed 64-bit integers (a Postgres bigint[]): each the hash of
 * a scope, the band's number and its MINHASH_ROWS values. The scope (the stream and class set, as
 * the caller spells them) keeps texts of different streams or label sets from ever meeting.
 */
export function lshBands(signature: Uint32Array, scope: string): bigint[] {
  const bands: bigint[] = [];
  const bytes = signatureBytes(signature);
  for (let band = 0; band < MINHASH_BANDS; band++) {
    const rows = bytes.subarray(band * MINHASH_ROWS * 4, (band + 1) * MINHASH_ROWS * 4);
    const digest = createHash('sha256')
      .update(scope)
      .update('\0')
      .update(String(band))
      .update('\0')
      .update(rows)
      .digest();
    bands.push(digest.readBigInt64BE(0));
  }
  return bands;
}

/** A signature as bytes (little-endian 32-bit values), to store. */
export function signatureBytes(signature: Uint32Array): Buffer {
  const out = Buffer.alloc(MINHASH_SIZE * 4);
  for (let i = 0; i < MINHASH_SIZE; i++) out.writeUInt32LE(signature[i]!, i * 4);
  return out;
}

/** A signature back from its bytes; null when they are not one. */
export function signatureFromBytes(bytes: Uint8Array): Uint32Array | null {
  if (bytes.length !== MINHASH_SIZE * 4) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signature = new Uint32Array(MINHASH_SIZE);
  for (let i = 0; i < MINHASH_SIZE; i++) signature[i] = view.getUint32(i * 4, true);
  return signature;
}
