// Gold items: known-answer items an admin imports to measure reviewers (migration
// 1700000018000). Each time one is handed to a reviewer it becomes a task of status 'gold'; the
// review API does that, and scores the answer. This module stores the items and reads the scores.
import { createHash } from 'node:crypto';
import { createValidator, GoldItemLine, type EventInput } from '@hitl/contracts';
import type { Pool } from 'pg';
import { DbError, DbErrorCode } from './errors';

/** One item as an admin gives it. */
export interface GoldItemInput {
  /** The admin's own id for it; without one, a hash of its input stands in. */
  id?: string;
  stream: string;
  input: EventInput;
  attributes?: Record<string, string>;
  /** The right answer. */
  label: string;
  /** The choices reviewers get; without them, the routing policy's classes. */
  classes?: string[];
}

export interface GoldItem {
  id: number;
  stream: string;
  ref: string;
  label: string;
  classes: string[];
  active: boolean;
  importedBy: string;
  importedAt: Date;
  /** Times it was answered, and answered right. */
  answers: number;
  correct: number;
}

/** At most this many items in one import. */
export const MAX_GOLD_IMPORT = 10_000;

const validLine = createValidator(GoldItemLine);

/** A gold import that cannot be taken, with every line at fault (the first 100). */
export class GoldImportError extends DbError {
  constructor(
    message: string,
    readonly problems: readonly { line: number; problem: string }[],
  ) {
    super(DbErrorCode.goldInvalid, message);
    this.name = 'GoldImportError';
  }
}

/**
 * Reads gold items from JSON lines (blank lines are skipped). `stream` fills a line without one.
 * Throws a GoldImportError naming each bad line: not JSON, not an item, no stream, or past
 * MAX_GOLD_IMPORT items.
 */
export function parseGoldLines(text: string, opts: { stream?: string } = {}): GoldItemInput[] {
  const items: GoldItemInput[] = [];
  const problems: { line: number; problem: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && problems.length < 100; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (items.length >= MAX_GOLD_IMPORT) {
      problems.push({ line: i + 1, problem: `an import holds at most ${MAX_GOLD_IMPORT} items` });
      break;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      problems.push({ line: i + 1, problem: `not JSON (${(error as Error).message})` });
      continue;
    }
    if (!validLine.check(value)) {
      const issues = validLine.issues(value, 3).map((issue) => `${issue.path} ${issue.message}`);
      problems.push({ line: i + 1, problem: `not a gold item: ${issues.join('; ')}` });
      continue;
    }
    const stream = value.stream ?? opts.stream;
    if (stream === undefined) {
      problems.push({ line: i + 1, problem: 'names no stream (give "stream", or a stream for all lines)' });
      continue;
    }
    items.push({ ...value, stream });
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `line ${p.line}: ${p.problem}`);
    throw new GoldImportError(
      `no gold item was imported: ${shown.join('; ')}${problems.length > 5 ? '; …' : ''}`,
      problems,
    );
  }
  return items;
}

/** The ref an item is known by: its id, or a hash of what reviewers see of it. */
export function goldRef(item: Pick<GoldItemInput, 'id' | 'input' | 'attributes'>): string {
  if (item.id !== undefined) return item.id;
  const seen = JSON.stringify([item.input.text ?? null, item.input.features ?? null, item.attributes ?? {}]);
  return `sha256:${createHash('sha256').update(seen).digest('hex')}`;
}

/**
 * Stores gold items in one transaction, or none: every item needs a label among its classes
 * (its own, or `defaultClasses`, at least two). An item already stored (same stream and ref)
 * is left as it is. Returns how many were new and how many were there already.
 */
export async function importGoldItems(
  pool: Pool,
  items: readonly GoldItemInput[],
  opts: { importedBy: string; defaultClasses: readonly string[] },
): Promise<{ imported: number; unchanged: number }> {
  if (items.length > MAX_GOLD_IMPORT) {
    throw new DbError(
      DbErrorCode.goldInvalid,
      `an import holds at most ${MAX_GOLD_IMPORT} items, got ${items.length}`,
    );
  }
  const problems: { line: number; problem: string }[] = [];
  const rows = items.map((item, i) => {
    const classes = item.classes ?? [...opts.defaultClasses];
    if (new Set(classes).size < 2) {
      problems.push({
        line: i + 1,
        problem: `needs two or more distinct classes (give "classes", or declare the policy's classes)`,
      });
    } else if (!classes.includes(item.label)) {
      problems.push({ line: i + 1, problem: `label "${item.label}" is not one of ${classes.join(', ')}` });
    }
    return {
      stream: item.stream,
      ref: goldRef(item),
      input: item.input,
      attributes: item.attributes ?? null,
      label: item.label,
      classes,
    };
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `item ${p.line}: ${p.problem}`);
    throw new GoldImportError(
      `no gold item was imported: ${shown.join('; ')}${problems.length > 5 ? '; …' : ''}`,
      problems.slice(0, 100),
    );
  }
  if (rows.length === 0) return { imported: 0, unchanged: 0 };
  const { rowCount } = await pool.query(
    `INSERT INTO gold_items (stream, ref, input, attributes, label, classes, imported_by)
     SELECT g->>'stream', g->>'ref', g->'input', nullif(g->'attributes', 'null'::jsonb), g->>'label',
            ARRAY(SELECT jsonb_array_elements_text(g->'classes')), $2
       FROM jsonb_array_elements($1::jsonb) AS items(g)
     ON CONFLICT (stream, ref) DO NOTHING`,
    [JSON.stringify(rows), opts.importedBy],
  );
  const imported = rowCount ?? 0;
  return { imported, unchanged: rows.length - imported };
}

/** Gold items with how often they were answered and answered right, newest first. */
export async function listGoldItems(pool: Pool, opts: { limit?: number } = {}): Promise<GoldItem[]> {
  const { rows } = await pool.query<{
    id: string;
    stream: string;
    ref: string;
    label: string;
    classes: string[];
    active: boolean;
    imported_by: string;
    imported_at: Date;
    answers: string;
    correct: string;
  }>(
    `SELECT g.id, g.stream, g.ref, g.label, g.classes, g.active, g.imported_by, g.imported_at,
            count(t.event_id) AS answers, count(t.event_id) FILTER (WHERE t.final_label = g.label) AS correct
       FROM gold_items g
       LEFT JOIN review_tasks t ON t.gold_item_id = g.id AND t.final_label IS NOT NULL
      GROUP BY g.id ORDER BY g.id DESC LIMIT $1`,
    [Math.min(Math.max(opts.limit ?? 1_000, 1), 10_000)],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    stream: r.stream,
    ref: r.ref,
    label: r.label,
    classes: r.classes,
    active: r.active,
    importedBy: r.imported_by,
    importedAt: r.imported_at,
    answers: Number(r.answers),
    correct: Number(r.correct),
  }));
}

/** Turns a gold item on or off for new assignments; false when there is no such item. */
export async function setGoldItemActive(pool: Pool, id: number, active: boolean): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE gold_items SET active = $2 WHERE id = $1', [id, active]);
  return (rowCount ?? 0) > 0;
}

/** Each reviewer's gold answers and right ones in the last 30 days ($1: one reviewer, or null). */
export const GOLD_SCORES_BY_REVIEWER = `SELECT t.gold_reviewer AS reviewer_id, count(*) AS answers,
        count(*) FILTER (WHERE t.final_label = g.label) AS correct
   FROM review_tasks t JOIN gold_items g ON g.id = t.gold_item_id
  WHERE t.status = 'gold' AND t.final_label IS NOT NULL AND t.decided_at > now() - interval '30 days'
    AND ($1::text IS NULL OR t.gold_reviewer = $1)
  GROUP BY t.gold_reviewer`;
