// Words for what the API returns: why an item came to a person, how long a lease has left.
import type { Task } from '@hitl/client/browser';

/** The labels to choose from: the task's classes, or the model's when the task names none. */
export function labelsOf(task: Task): string[] {
  return task.classes.length > 0 ? task.classes : Object.keys(task.prediction.probabilities);
}

export function reasonText(task: Task): string {
  const label = task.prediction.label;
  switch (task.reason) {
    case 'low_confidence':
      return 'The model was not sure enough to decide alone.';
    case 'audit_sample':
      return 'Picked at random to check the model’s sure decisions.';
    case 'class_rule':
      return label === null
        ? 'The policy sends this class to a person.'
        : `The policy sends every “${label}” to a person.`;
    case 'no_model':
      return 'No model is promoted yet: every item goes to a person.';
    default:
      return `Reason: ${String(task.reason)}`;
  }
}

export function timeLeftText(ms: number): string {
  if (ms <= 0) return 'lease ended';
  const seconds = Math.ceil(ms / 1_000);
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${seconds % 60} s left` : `${seconds} s left`;
}
