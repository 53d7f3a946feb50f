import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

// RFC 3339 date-time, as Date.toISOString() writes it and as producers in other languages do.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function registerFormats(): void {
  if (!FormatRegistry.Has('date-time')) {
    FormatRegistry.Set('date-time', (value) => DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)));
  }
}

export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export interface Validator<Schema extends TSchema> {
  check(value: unknown): value is Static<Schema>;
  /** The first few problems with a value, for error messages. */
  issues(value: unknown, limit?: number): ValidationIssue[];
}

/** A compiled validator for one schema. */
export function createValidator<Schema extends TSchema>(schema: Schema): Validator<Schema> {
  registerFormats();
  const compiled = TypeCompiler.Compile(schema);
  return {
    check: (value): value is Static<Schema> => compiled.Check(value),
    issues(value, limit = 5) {
      const out: ValidationIssue[] = [];
      for (const error of compiled.Errors(value)) {
        out.push({ path: error.path || '/', message: error.message });
        if (out.length >= limit) break;
      }
      return out;
    },
  };
}
