// `pnpm dataset numeric|short-text|first-names [options] --out FILE`: writes a generated labelled data set for
// `pnpm replay --file`. This file is the command's entry point.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { firstNames } from '@hitl/datasets';
import { numericSet, shortTextSet, toFile } from './generate';

const HELP = `pnpm dataset numeric|short-text|first-names [options] --out FILE

numeric      Gaussian classes over numeric columns (CSV: id, label, f1..fN)
  --rows N (300)  --classes N (3)  --features N (13)  --informative N (all)
  --separation X (2: class means about X noise deviations apart per feature; smaller overlaps more)
short-text   items of a few words (JSONL: id, label, text)
  --rows N (2000)  --classes N (5)  --min-words N (2)  --max-words N (6)
  --own X (0.5: share of an item's words from its own class)  --other X (0.15: from another class)
first-names  English first names labelled female or male, from npm (JSONL: id, label, text;
             8,003 items of one word: a text model of whole words cannot learn it)
all          --seed N (1)  --out FILE

Replay it with:  pnpm replay --file FILE --feature-columns f1,...,fN   (numeric)
                 pnpm replay --file FILE --text text                   (short-text, first-names)
                 (add --limit N for a smaller set)
`;

function fail(message: string): never {
  process.stderr.write(`HITL_ERR_USAGE: ${message}\n\n${HELP}`);
  process.exit(64);
}

function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      rows: { type: 'string' },
      classes: { type: 'string' },
      features: { type: 'string' },
      informative: { type: 'string' },
      separation: { type: 'string' },
      'min-words': { type: 'string' },
      'max-words': { type: 'string' },
      own: { type: 'string' },
      other: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return Promise.resolve();
  }
  const num = (name: keyof typeof values, fallback: number, min: number, max = Infinity, integer = true) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      fail(
        `--${name} must be ${integer ? 'an integer' : 'a number'} from ${min}${max === Infinity ? '' : ` to ${max}`}, got "${String(raw)}"`,
      );
    }
    return n;
  };
  const seed = num('seed', 1, 0);
  const out = values.out ?? fail('--out FILE is required');
  const kind = positionals[0];
  let items;
  if (kind === 'numeric') {
    items = numericSet({
      rows: num('rows', 300, 2, 1_000_000),
      classes: num('classes', 3, 2, 1_000),
      features: num('features', 13, 1, 10_000),
      ...(values.informative === undefined ? {} : { informative: num('informative', 1, 1, 10_000) }),
      separation: num('separation', 2, 0, 100, false),
      seed,
    });
  } else if (kind === 'short-text') {
    const minWords = num('min-words', 2, 1, 1_000);
    const own = num('own', 0.5, 0, 1, false);
    const other = num('other', 0.15, 0, 1 - own, false);
    items = shortTextSet({
      rows: num('rows', 2_000, 2, 1_000_000),
      classes: num('classes', 5, 2, 1_000),
      words: [minWords, num('max-words', 6, minWords, 1_000)],
      ownWordShare: own,
      otherWordShare: other,
      seed,
    });
  } else if (kind === 'first-names') {
    items = firstNames().map(({ name, label }) => ({ id: name, label, input: { text: name } }));
  } else {
    fail(
      `the first argument is numeric, short-text or first-names, got ${kind === undefined ? 'none' : `"${kind}"`}`,
    );
  }
  const file = toFile(items);
  return writeFile(out, file.content).then(() => {
    process.stderr.write(`wrote ${items.length} ${kind} items (${file.format}) to ${out}\n`);
  });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof Error && 'code' in error && error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    fail(error.message);
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
