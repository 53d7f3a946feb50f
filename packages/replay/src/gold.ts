// Gold items for a replay: items of the data set held out of the stream, chosen with the seed and
// stratified by label, imported through the review API (POST /v1/admin/gold, JSON lines) before
// the stream starts, so that the review API hands them to the simulated reviewers as gold tasks.
// A gold task comes under an event id of the API's own: the reviewers know its truth by its input.
import { mulberry32 } from '@hitl/model/random';
import type { LabelledInput, LabelledItem } from './dataset';

/**
 * Holds `n` items out of `items`: per label a share of n in proportion to the label's items
 * (largest remainders; every label at least one when n allows and it has two or more items), each
 * label's picked at random with the seed. The stream keeps its order without them.
 */
export function selectGold(
  items: readonly LabelledItem[],
  n: number,
  seed: number,
): { gold: LabelledItem[]; stream: LabelledItem[] } {
  if (!(Number.isInteger(n) && n >= 0 && n < items.length)) {
    throw new RangeError(`gold must be an integer from 0 to ${items.length - 1}, not ${n}`);
  }
  if (n === 0) return { gold: [], stream: [...items] };
  const byLabel = new Map<string, number[]>();
  items.forEach((item, i) => byLabel.set(item.label, [...(byLabel.get(item.label) ?? []), i]));
  const labels = [...byLabel.keys()].sort();
  const quota = new Map(labels.map((l) => [l, Math.floor((n * byLabel.get(l)!.length) / items.length)]));
  // Largest remainders first (then the label's name), until the quotas add up to n.
  const byRemainder = [...labels].sort((a, b) => {
    const rest = (l: string) => (n * byLabel.get(l)!.length) / items.length - quota.get(l)!;
    return rest(b) - rest(a) || (a < b ? -1 : 1);
  });
  let given = [...quota.values()].reduce((s, q) => s + q, 0);
  for (let i = 0; given < n; i = (i + 1) % byRemainder.length) {
    const l = byRemainder[i]!;
    if (quota.get(l)! < byLabel.get(l)!.length) {
      quota.set(l, quota.get(l)! + 1);
      given++;
    }
  }
  // A label left out that could spare one takes it from the label with the most.
  for (const l of labels) {
    if (quota.get(l) === 0 && byLabel.get(l)!.length >= 2) {
      const richest = [...labels].sort((a, b) => quota.get(b)! - quota.get(a)!)[0]!;
      if (quota.get(richest)! >= 2) {
        quota.set(richest, quota.get(richest)! - 1);
        quota.set(l, 1);
      }
    }
  }
  const rand = mulberry32((seed ^ 0x60_1d_5e_ed) >>> 0);
  const picked = new Set<number>();
  for (const l of labels) {
    const indices = [...byLabel.get(l)!];
    // A partial Fisher–Yates: the first quota positions are a uniform sample.
    for (let i = 0; i < quota.get(l)!; i++) {
      const j = i + Math.floor(rand() * (indices.length - i));
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
      picked.add(indices[i]!);
    }
  }
  return {
    gold: items.filter((_, i) => picked.has(i)),
    stream: items.filter((_, i) => !picked.has(i)),
  };
}

/** What identifies an item's input as a reviewer sees it (text, or features). */
export function inputKey(input: { text?: string; features?: number[] } | LabelledInput): string {
  return JSON.stringify([
    'text' in input ? (input.text ?? null) : null,
    'features' in input ? (input.features ?? null) : null,
  ]);
}

/**
 * The bodies of the import: one JSON line per item (its id, the stream, input, label and the
 * classes), at most `maxBytes` of UTF-8 each, so that none passes the API's body limit. A single
 * line longer than that goes in a body of its own (the API then refuses it).
 */
export function goldImportBodies(
  gold: readonly LabelledItem[],
  stream: string,
  classes: readonly string[],
  maxBytes = 512 * 1024,
): string[] {
  const bodies: string[] = [];
  let body = '';
  for (const item of gold) {
    const line = `${JSON.stringify({ id: item.id, stream, input: item.input, label: item.label, classes })}\n`;
    if (body !== '' && Buffer.byteLength(body) + Buffer.byteLength(line) > maxBytes) {
      bodies.push(body);
      body = '';
    }
    body += line;
  }
  if (body !== '') bodies.push(body);
  return bodies;
}

/** Imports the bodies through the review API with an admin's key; the items stored now in all. */
export async function importGold(
  baseUrl: string,
  adminKey: string,
  stream: string,
  bodies: readonly string[],
): Promise<{ imported: number; unchanged: number }> {
  const total = { imported: 0, unchanged: 0 };
  for (const body of bodies) {
    const res = await fetch(`${baseUrl}/v1/admin/gold?stream=${encodeURIComponent(stream)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/x-ndjson' },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`importing gold items: HTTP ${res.status}: ${text.slice(0, 1_000)}`);
    const result = JSON.parse(text) as { imported: number; unchanged: number };
    total.imported += result.imported;
    total.unchanged += result.unchanged;
  }
  return total;
}
