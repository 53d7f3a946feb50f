/**
 * The tokenizer shared by training, TypeScript scoring and the exported ONNX graph. It must match
 * StringNormalizer (locale "C", LOWER: only ASCII letters change) followed by the com.microsoft
 * Tokenizer with `tokenexp` TOKEN_PATTERN and TfIdfVectorizer over unigrams and adjacent bigrams.
 */
export const TOKEN_PATTERN = "[a-zA-Z0-9']+";

/** Separates the two tokens of a bigram in vocabulary keys; tokens never contain it. */
export const BIGRAM_SEPARATOR = ' ';

const TOKEN_REGEX = /[a-zA-Z0-9']+/g;

/** Lowercases ASCII letters only, as StringNormalizer does with locale "C". */
export function normalizeText(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Lowercased tokens of a text, in order: the tokens of normalizeText(text). Lowercasing only
 * changes letters within tokens and tokens are ASCII, so each token is lowercased after the split.
 */
export function tokenize(text: string): string[] {
  const tokens = text.match(TOKEN_REGEX);
  if (tokens === null) return [];
  for (let i = 0; i < tokens.length; i++) tokens[i] = tokens[i]!.toLowerCase();
  return tokens;
}

/** Unigrams then adjacent bigrams ("a b") of a token sequence, repeats included. */
export function ngramsOf(tokens: readonly string[]): string[] {
  const n = tokens.length;
  const out = new Array<string>(n === 0 ? 0 : 2 * n - 1);
  for (let i = 0; i < n; i++) out[i] = tokens[i]!;
  for (let i = 0; i + 1 < n; i++) out[n + i] = tokens[i]! + BIGRAM_SEPARATOR + tokens[i + 1]!;
  return out;
}

/** Unigrams and bigrams of a text, repeats included. */
export function textNgrams(text: string): string[] {
  return ngramsOf(tokenize(text));
}

/** True when a vocabulary key is a bigram. */
export function isBigram(ngram: string): boolean {
  return ngram.includes(BIGRAM_SEPARATOR);
}
