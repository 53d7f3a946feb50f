import { ServiceKitErrorCode } from './errors';

// Declarative environment config: each service lists its variables once, gets a typed object
// back, and sees every problem at once instead of fixing them one restart at a time.

export interface ConfigProblem {
  variable: string;
  problem: string;
}

export class ConfigError extends Error {
  readonly code = ServiceKitErrorCode.config;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map(({ variable, problem }) => `  - ${variable}: ${problem}`);
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** One environment variable: its name and how to turn its raw text into a value. */
export interface ConfigVar<T> {
  readonly variable: string;
  read(env: NodeJS.ProcessEnv): Parsed<T>;
}

export type ConfigSpec = Record<string, ConfigVar<unknown>>;
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends ConfigVar<infer T> ? T : never;
};

interface CommonOptions {
  /** Keep the value out of error messages (passwords, connection strings with credentials). */
  secret?: boolean;
}
interface RequiredField<T> extends CommonOptions {
  default?: T;
  optional?: false;
}
interface OptionalField extends CommonOptions {
  optional: true;
  default?: never;
}
type FieldOptions<T> = RequiredField<T> | OptionalField;

function configVar<T>(
  variable: string,
  opts: FieldOptions<T> | undefined,
  parse: (raw: string, shown: string) => Parsed<T>,
  isBlank: (raw: string) => boolean = (raw) => raw === '',
): ConfigVar<T> {
  return {
    variable,
    read(env) {
      const raw = env[variable]?.trim();
      // An empty value counts as unset: `FOO=` in a compose or k8s manifest means "not configured".
      if (raw === undefined || isBlank(raw)) {
        if (opts?.optional) return { ok: true, value: undefined as T };
        if (opts?.default !== undefined) return { ok: true, value: opts.default };
        return { ok: false, problem: 'is required but not set' };
      }
      return parse(raw, opts?.secret ? '(value hidden)' : JSON.stringify(raw));
    },
  };
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (problem: string): Parsed<never> => ({ ok: false, problem });

export function str(variable: string, opts: OptionalField): ConfigVar<string | undefined>;
export function str(variable: string, opts?: RequiredField<string>): ConfigVar<string>;
export function str(variable: string, opts?: FieldOptions<string>): ConfigVar<string | undefined> {
  return configVar(variable, opts, (raw) => ok(raw));
}

interface RangeOptions {
  min?: number;
  max?: number;
}

function inRange(value: number, range: RangeOptions, shown: string): Parsed<number> {
  if (range.min !== undefined && value < range.min)
    return fail(`must be at least ${range.min}, got ${shown}`);
  if (range.max !== undefined && value > range.max) return fail(`must be at most ${range.max}, got ${shown}`);
  return ok(value);
}

export function int(variable: string, opts: OptionalField & RangeOptions): ConfigVar<number | undefined>;
export function int(variable: string, opts?: RequiredField<number> & RangeOptions): ConfigVar<number>;
export function int(
  variable: string,
  opts?: FieldOptions<number> & RangeOptions,
): ConfigVar<number | undefined> {
  return configVar(variable, opts, (raw, shown) => {
    const value = Number(raw);
    if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(value))
      return fail(`must be an integer, got ${shown}`);
    return inRange(value, opts ?? {}, shown);
  });
}

export function num(variable: string, opts: OptionalField & RangeOptions): ConfigVar<number | undefined>;
export function num(variable: string, opts?: RequiredField<number> & RangeOptions): ConfigVar<number>;
export function num(
  variable: string,
  opts?: FieldOptions<number> & RangeOptions,
): ConfigVar<number | undefined> {
  return configVar(variable, opts, (raw, shown) => {
    const value = Number(raw);
    if (!Number.isFinite(value)) return fail(`must be a number, got ${shown}`);
    return inRange(value, opts ?? {}, shown);
  });
}

const BOOLEANS: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

/** Strict: only true, false, 1 or 0, so a typo such as "ture" fails instead of meaning false. */
export function bool(variable: string, opts: OptionalField): ConfigVar<boolean | undefined>;
export function bool(variable: string, opts?: RequiredField<boolean>): ConfigVar<boolean>;
export function bool(variable: string, opts?: FieldOptions<boolean>): ConfigVar<boolean | undefined> {
  return configVar(variable, opts, (raw, shown) => {
    const value = BOOLEANS[raw];
    return value === undefined ? fail(`must be one of true, false, 1, 0, got ${shown}`) : ok(value);
  });
}

/** Comma-separated; blank items are dropped and an all-blank value counts as unset. */
export function list(variable: string, opts: OptionalField): ConfigVar<string[] | undefined>;
export function list(variable: string, opts?: RequiredField<string[]>): ConfigVar<string[]>;
export function list(variable: string, opts?: FieldOptions<string[]>): ConfigVar<string[] | undefined> {
  const split = (raw: string): string[] =>
    raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  return configVar(
    variable,
    opts,
    (raw) => ok(split(raw)),
    (raw) => split(raw).length === 0,
  );
}

interface UrlOptions {
  /** Accepted schemes with their colon, e.g. ['postgres:', 'postgresql:']. */
  protocols?: readonly string[];
}

/** A URL, returned as the text given (normalising could rewrite what a client library expects). */
export function url(variable: string, opts: OptionalField & UrlOptions): ConfigVar<string | undefined>;
export function url(variable: string, opts?: RequiredField<string> & UrlOptions): ConfigVar<string>;
export function url(
  variable: string,
  opts?: FieldOptions<string> & UrlOptions,
): ConfigVar<string | undefined> {
  return configVar(variable, opts, (raw, shown) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      return fail(`must be an absolute URL, got ${shown}`);
    }
    if (opts?.protocols && !opts.protocols.includes(parsed.protocol)) {
      return fail(`must use one of ${opts.protocols.join(', ')}, got ${JSON.stringify(parsed.protocol)}`);
    }
    return ok(raw);
  });
}

export function oneOf<const V extends readonly string[]>(
  variable: string,
  values: V,
  opts: OptionalField,
): ConfigVar<V[number] | undefined>;
export function oneOf<const V extends readonly string[]>(
  variable: string,
  values: V,
  opts?: RequiredField<V[number]>,
): ConfigVar<V[number]>;
export function oneOf<const V extends readonly string[]>(
  variable: string,
  values: V,
  opts?: FieldOptions<V[number]>,
): ConfigVar<V[number] | undefined> {
  return configVar(variable, opts, (raw, shown) =>
    values.includes(raw) ? ok(raw) : fail(`must be one of ${values.join(', ')}, got ${shown}`),
  );
}

export interface ParseConfigOptions<C> {
  /**
   * Cross-field checks, run only when every variable parsed. Return the problems found; name
   * the variables involved so the message points at them.
   */
  check?: (config: C) => readonly ConfigProblem[];
}

/** Reads every variable in spec from env; throws one ConfigError listing all problems. */
export function parseConfig<S extends ConfigSpec>(
  spec: S,
  env: NodeJS.ProcessEnv,
  opts: ParseConfigOptions<ConfigOf<S>> = {},
): ConfigOf<S> {
  const problems: ConfigProblem[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    const parsed = field.read(env);
    if (parsed.ok) config[key] = parsed.value;
    else problems.push({ variable: field.variable, problem: parsed.problem });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const typed = Object.freeze(config) as ConfigOf<S>;
  const crossProblems = opts.check?.(typed) ?? [];
  if (crossProblems.length > 0) throw new ConfigError(crossProblems);
  return typed;
}
