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

/** Lowercased tokens of a text, in order. */
export function tokenize(text: string): string[] {
  return normalizeText(text).match(TOKEN_REGEX) ?? [];
}

/** Unigrams then adjacent bigrams ("a b") of a token sequence, repeats included. */
export function ngramsOf(tokens: readonly string[]): string[] {
  const out: string[] = [...tokens];
  for (let i = 0; i + 1 < tokens.length; i++) {
    out.push(`${tokens[i]}${BIGRAM_SEPARATOR}${tokens[i + 1]}`);
  }
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
