// Labelled data sets for a replay: the SpamAssassin corpus, or a JSONL or CSV file of the user's.
import { mulberry32 } from '@hitl/model/random';
import { spamAssassin } from '@hitl/datasets';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

export type LabelledInput = { text: string } | { features: number[] };

export interface LabelledItem {
  id: string;
  label: string;
  input: LabelledInput;
}

export const DatasetErrorCode = {
  /** The file is not JSONL or CSV, or a line does not parse. */
  format: 'HITL_ERR_DATASET_FORMAT',
  /** A field is missing or holds the wrong kind of value. */
  field: 'HITL_ERR_DATASET_FIELD',
  /** Feature vectors of different widths. */
  width: 'HITL_ERR_DATASET_WIDTH',
  /** Fewer than two labels: nothing to classify. */
  classes: 'HITL_ERR_DATASET_CLASSES',
  /** Two items with one id. */
  duplicateId: 'HITL_ERR_DATASET_DUPLICATE_ID',
  /** Options that contradict each other. */
  options: 'HITL_ERR_DATASET_OPTIONS',
} as const;
export type DatasetErrorCode = (typeof DatasetErrorCode)[keyof typeof DatasetErrorCode];

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  constructor(
    readonly code: DatasetErrorCode,
    message: string,
    /** 1-based line of the file the problem is on (a CSV record's first line), when there is one. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

/** All 6,046 SpamAssassin messages, labelled ham or spam, in the corpus's own order. */
export function loadSpamAssassin(): LabelledItem[] {
  return spamAssassin().map((m) => ({ id: m.id, label: m.label, input: { text: m.text } }));
}

export interface LabelledFileOptions {
  /** Default: from the extension (.jsonl/.ndjson or .csv). */
  format?: 'jsonl' | 'csv';
  labelField: string;
  /** The text to classify. Exactly one of textField, featuresField and featureColumns. */
  textField?: string;
  /** JSONL only: a field holding an array of numbers. */
  featuresField?: string;
  /** Numeric fields (CSV columns or JSONL fields), in this order, as the feature vector. */
  featureColumns?: string[];
  /** Default: the line number (a CSV record's first line). */
  idField?: string;
}

/** A labelled data set from a JSONL or CSV file; throws DatasetError naming the bad line. */
export async function loadLabelledFile(path: string, opts: LabelledFileOptions): Promise<LabelledItem[]> {
  const format = opts.format ?? formatFromExtension(path);
  const content = await readFile(path, 'utf8');
  return parseLabelled(content, { ...opts, format });
}

/**
 * A data set file of the usual shape, its fields told from the file itself (pnpm replay --also):
 * a `label` field, an `id` field if there is one (else the line number), and as the input a
 * `text` field, else (JSONL) a `features` array, else every other field, in order, as numeric
 * feature columns (the CSV that `pnpm dataset numeric` writes: id, label, f1..fN).
 */
export async function loadDataSetFile(path: string, format?: 'jsonl' | 'csv'): Promise<LabelledItem[]> {
  const content = await readFile(path, 'utf8');
  return parseDataSet(content, format ?? formatFromExtension(path));
}

/** loadDataSetFile on a string already read. */
export function parseDataSet(content: string, format: 'jsonl' | 'csv'): LabelledItem[] {
  let fields: string[];
  let featuresArray = false;
  if (format === 'csv') {
    fields = parseCsv(content.split(/\r?\n/, 1)[0] ?? '')[0]?.cells ?? [];
  } else {
    const first = content.split(/\r?\n/).find((line) => line.trim() !== '');
    let value: unknown;
    try {
      value = first === undefined ? {} : JSON.parse(first);
    } catch (error) {
      throw new DatasetError(DatasetErrorCode.format, `not JSON: ${(error as Error).message}`);
    }
    const record = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {};
    fields = Object.keys(record);
    featuresArray = Array.isArray((record as Record<string, unknown>).features);
  }
  if (!fields.includes('label')) {
    throw new DatasetError(DatasetErrorCode.field, 'no field "label": the data set needs one', 1);
  }
  const rest = fields.filter((f) => f !== 'id' && f !== 'label');
  const input: Partial<LabelledFileOptions> = fields.includes('text')
    ? { textField: 'text' }
    : featuresArray
      ? { featuresField: 'features' }
      : { featureColumns: rest };
  if (input.featureColumns?.length === 0) {
    throw new DatasetError(DatasetErrorCode.field, 'no input: neither a "text" field nor feature columns', 1);
  }
  return parseLabelled(content, {
    format,
    labelField: 'label',
    ...input,
    ...(fields.includes('id') ? { idField: 'id' } : {}),
  });
}

/** loadLabelledFile on a string already read. */
export function parseLabelled(
  content: string,
  opts: LabelledFileOptions & { format: 'jsonl' | 'csv' },
): LabelledItem[] {
  const inputs = [opts.textField, opts.featuresField, opts.featureColumns].filter((o) => o !== undefined);
  if (inputs.length !== 1) {
    throw new DatasetError(
      DatasetErrorCode.options,
      'give exactly one of textField, featuresField and featureColumns',
    );
  }
  if (opts.format === 'csv' && opts.featuresField !== undefined) {
    throw new DatasetError(
      DatasetErrorCode.options,
      'featuresField is for JSONL; use featureColumns for CSV',
    );
  }
  const records = opts.format === 'csv' ? csvRecords(content) : jsonlRecords(content);
  const items: LabelledItem[] = [];
  const ids = new Set<string>();
  let width: { size: number; line: number } | undefined;
  for (const { line, fields } of records) {
    const label = scalar(fields, opts.labelField, line);
    const id = opts.idField === undefined ? String(line) : scalar(fields, opts.idField, line);
    if (ids.has(id))
      throw new DatasetError(DatasetErrorCode.duplicateId, `id ${JSON.stringify(id)} again`, line);
    ids.add(id);
    let input: LabelledInput;
    if (opts.textField !== undefined) {
      const text = fields[opts.textField];
      if (typeof text !== 'string' || text === '') {
        throw new DatasetError(
          DatasetErrorCode.field,
          `no text in field ${JSON.stringify(opts.textField)}`,
          line,
        );
      }
      input = { text };
    } else {
      const features =
        opts.featuresField !== undefined
          ? featureArray(fields, opts.featuresField, line)
          : opts.featureColumns!.map((column) => numberField(fields, column, line));
      if (features.length === 0) throw new DatasetError(DatasetErrorCode.field, 'no features', line);
      width ??= { size: features.length, line };
      if (features.length !== width.size) {
        throw new DatasetError(
          DatasetErrorCode.width,
          `${features.length} features, but line ${width.line} has ${width.size}`,
          line,
        );
      }
      input = { features };
    }
    items.push({ id, label, input });
  }
  const labels = new Set(items.map((i) => i.label));
  if (labels.size < 2) {
    throw new DatasetError(
      DatasetErrorCode.classes,
      `${items.length} items with ${labels.size} label${labels.size === 1 ? '' : 's'} (${[...labels].join(', ')}); a classifier needs at least two`,
    );
  }
  return items;
}

function formatFromExtension(path: string): 'jsonl' | 'csv' {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  throw new DatasetError(
    DatasetErrorCode.format,
    `cannot tell the format of ${path} from its extension; pass format: 'jsonl' or 'csv'`,
  );
}

interface FileRecord {
  /** 1-based line the record starts on. */
  line: number;
  fields: Record<string, unknown>;
}

function jsonlRecords(content: string): FileRecord[] {
  const records: FileRecord[] = [];
  content.split(/\r?\n/).forEach((text, i) => {
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new DatasetError(DatasetErrorCode.format, `not JSON: ${(error as Error).message}`, i + 1);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DatasetError(DatasetErrorCode.format, 'not a JSON object', i + 1);
    }
    records.push({ line: i + 1, fields: value as Record<string, unknown> });
  });
  return records;
}

function csvRecords(content: string): FileRecord[] {
  const [header, ...rows] = parseCsv(content);
  if (!header) throw new DatasetError(DatasetErrorCode.format, 'empty CSV file: no header row');
  const seen = new Set<string>();
  for (const name of header.cells) {
    if (seen.has(name))
      throw new DatasetError(DatasetErrorCode.format, `column ${JSON.stringify(name)} twice`, 1);
    seen.add(name);
  }
  return rows
    .filter((row) => !(row.cells.length === 1 && row.cells[0] === ''))
    .map((row) => {
      if (row.cells.length !== header.cells.length) {
        throw new DatasetError(
          DatasetErrorCode.format,
          `${row.cells.length} cells, but the header has ${header.cells.length}`,
          row.line,
        );
      }
      return {
        line: row.line,
        fields: Object.fromEntries(header.cells.map((name, i) => [name, row.cells[i]])),
      };
    });
}

export interface CsvRow {
  /** 1-based line the row starts on (a quoted cell may run over several). */
  line: number;
  cells: string[];
}

/**
 * RFC 4180: cells separated by commas, rows by CRLF or LF; a quoted cell may hold commas, line
 * breaks and doubled quotes. A final line break does not start an empty row.
 */
export function parseCsv(content: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let rowLine = 1;
  let i = content.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark Excel writes
  const endRow = () => {
    cells.push(cell);
    rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  while (i < content.length) {
    const c = content[i]!;
    if (c === '"' && cell === '') {
      // A quoted cell, up to the quote that is not doubled.
      const start = line;
      i++;
      for (;;) {
        if (i >= content.length) {
          throw new DatasetError(DatasetErrorCode.format, 'a quoted cell is never closed', start);
        }
        const q = content[i]!;
        if (q === '"') {
          if (content[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n') line++;
        cell += q;
        i++;
      }
      const next = content[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        throw new DatasetError(DatasetErrorCode.format, 'text after the closing quote of a cell', line);
      }
      continue;
    }
    if (c === ',') {
      cells.push(cell);
      cell = '';
      i++;
    } else if (c === '\r' && content[i + 1] === '\n') {
      endRow();
      i += 2;
      rowLine = ++line;
    } else if (c === '\n') {
      endRow();
      i++;
      rowLine = ++line;
    } else if (c === '"') {
      throw new DatasetError(DatasetErrorCode.format, 'a quote inside an unquoted cell', line);
    } else {
      cell += c;
      i++;
    }
  }
  if (cell !== '' || cells.length > 0) endRow();
  return rows;
}

function scalar(fields: Record<string, unknown>, name: string, line: number): string {
  const value = fields[name];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  throw new DatasetError(DatasetErrorCode.field, `no value in field ${JSON.stringify(name)}`, line);
}

function numberField(fields: Record<string, unknown>, name: string, line: number): number {
  const value = fields[name];
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : NaN;
  if (!Number.isFinite(n)) {
    throw new DatasetError(
      DatasetErrorCode.field,
      `field ${JSON.stringify(name)} is not a finite number: ${JSON.stringify(value) ?? 'missing'}`,
      line,
    );
  }
  return n;
}

function featureArray(fields: Record<string, unknown>, name: string, line: number): number[] {
  const value = fields[name];
  if (!Array.isArray(value)) {
    throw new DatasetError(
      DatasetErrorCode.field,
      `field ${JSON.stringify(name)} is not an array of numbers`,
      line,
    );
  }
  return value.map((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new DatasetError(
        DatasetErrorCode.field,
        `${name}[${i}] is not a finite number: ${JSON.stringify(v) ?? 'missing'}`,
        line,
      );
    }
    return v;
  });
}

/** A new array in an order fixed by the seed (Fisher–Yates); the input is left as it is. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
