// The metric names a PromQL expression reads, so a test can check that dashboards and alert
// rules ask only for metrics the services export. A tokenizer, not a full parser: it knows
// enough of the grammar to tell a metric from a function, a keyword, a label or a duration.

// Label lists follow these words: `sum by (group, topic)`, `on (model) group_left (le)`.
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan', 'start', 'end']);

type Token = { kind: 'ident' | 'number' | 'punct'; text: string };

function tokenize(expr: string): Token[] {
  const source = expr
    // Strings first: they may hold anything, brackets and braces included.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Comments.
    .replace(/#[^\n]*/g, ' ')
    // Label matchers, ranges and subqueries hold no metric names.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    // Grafana's variables: $__rate_interval, ${datasource}, [[var]].
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  const tokens: Token[] = [];
  const pattern =
    /\s+|(?<number>(?:0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?:[a-z]+\d*)*)|(?<ident>[a-z_:][a-z0-9_:]*)|(?<punct>.)/giy;
  for (const match of source.matchAll(pattern)) {
    const { number, ident, punct } = match.groups ?? {};
    if (number !== undefined) tokens.push({ kind: 'number', text: number });
    else if (ident !== undefined) tokens.push({ kind: 'ident', text: ident });
    else if (punct !== undefined) tokens.push({ kind: 'punct', text: punct });
  }
  return tokens;
}

/** The distinct metric names the expression selects, in order of appearance. */
export function promqlMetricNames(expr: string): string[] {
  const tokens = tokenize(expr);
  const names: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'ident') continue;
    const next = tokens[i + 1];
    const word = token.text.toLowerCase();
    if (LABEL_LIST_KEYWORDS.has(word)) {
      // Skip the parenthesised label list, if there is one (group_left may stand alone).
      if (next?.text === '(') {
        while (i < tokens.length && tokens[i]!.text !== ')') i++;
      }
      continue;
    }
    if (KEYWORDS.has(word)) continue;
    // A name followed by "(" is a function or an aggregation; one followed by `by` or `without`
    // is an aggregation with its grouping first (`sum by (le) (...)`).
    if (next?.text === '(') continue;
    if (next?.kind === 'ident' && ['by', 'without'].includes(next.text.toLowerCase())) continue;
    if (!names.includes(token.text)) names.push(token.text);
  }
  return names;
}

/**
 * The names of the metrics that a `# TYPE` line of the Prometheus text format declares, as a
 * query sees them: a histogram is its _bucket, _sum and _count series; a summary its quantiles,
 * _sum and _count.
 */
export function exposedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const typed = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (typed) {
      const [, name, type] = typed as unknown as [string, string, string];
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
      else names.add(name);
      continue;
    }
    // Samples of untyped metrics count too.
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
