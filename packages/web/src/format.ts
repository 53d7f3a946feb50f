// Words and numbers for the operator's pages. Pure: no DOM.
import { ReviewApiError } from '@hitl/client/browser';

/** 0.934 → "93.4%"; null (no data) → "–". */
export function percentText(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '–';
  return `${(ratio * 100).toFixed(digits)}%`;
}

export function numberText(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

/** An ISO time as the reader's local date and time, to the minute; null → "–". */
export function timeText(iso: string | null | undefined): string {
  if (!iso) return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** 75 → "1 min 15 s"; 7_300 → "2 h 1 min"; null → "nothing waiting". */
export function ageText(seconds: number | null): string {
  if (seconds === null) return 'nothing waiting';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${s % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The problems of a refused policy (HITL_ERR_POLICY_INVALID), or of a refused request body. */
export interface FieldProblem {
  field: string;
  problem: string;
}

export function fieldProblems(error: unknown): FieldProblem[] {
  if (!(error instanceof ReviewApiError)) return [];
  const details = error.details as { problems?: unknown; issues?: unknown } | null | undefined;
  if (!details || typeof details !== 'object') return [];
  const list = Array.isArray(details.problems) ? details.problems : [];
  const problems: FieldProblem[] = [];
  for (const item of list as unknown[]) {
    const p = item as { field?: unknown; problem?: unknown } | null;
    if (p && typeof p.field === 'string' && typeof p.problem === 'string') {
      problems.push({ field: p.field, problem: p.problem });
    }
  }
  if (problems.length === 0 && Array.isArray(details.issues)) {
    // A request the schema refused (HITL_ERR_VALIDATION): ajv's issues.
    for (const item of details.issues as unknown[]) {
      const i = item as { instancePath?: unknown; message?: unknown } | null;
      if (i && typeof i.message === 'string') {
        problems.push({
          field: typeof i.instancePath === 'string' && i.instancePath !== '' ? i.instancePath : '(request)',
          problem: i.message,
        });
      }
    }
  }
  return problems;
}
