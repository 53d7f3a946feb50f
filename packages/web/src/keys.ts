// What a key press does on the review screen. Pure: the screen passes the key and the labels.

export type KeyAction =
  | { kind: 'answer'; label: string }
  | { kind: 'skip' }
  | { kind: 'give-back' }
  | { kind: 'toggle-suggestion' };

/** Labels beyond the ninth have a button but no key. */
export const MAX_KEYED_LABELS = 9;

export function keyAction(key: string, labels: readonly string[]): KeyAction | null {
  if (/^[1-9]$/.test(key)) {
    const label = labels[Number(key) - 1];
    return label === undefined ? null : { kind: 'answer', label };
  }
  switch (key) {
    case 's':
      return { kind: 'skip' };
    case 'g':
    case 'Escape':
      return { kind: 'give-back' };
    case 'h':
      return { kind: 'toggle-suggestion' };
    default:
      return null;
  }
}
