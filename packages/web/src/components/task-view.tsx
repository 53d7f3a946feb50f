// One task. Everything from the event is shown as text (Preact text nodes): an email's HTML is
// never rendered and its scripts never run.
import { MAX_KEYED_LABELS } from '../keys';
import { reasonText, timeLeftText } from '../describe';
import type { HeldTask } from '../review-session';

/** Longer texts are cut, and the rest counted. */
const MAX_TEXT_CHARS = 20_000;
const MAX_FEATURES = 200;

export interface TaskViewProps {
  held: HeldTask;
  labels: string[];
  /** Names of the numeric features, by position (from the routing policy); the index without one. */
  featureNames: readonly string[];
  showSuggestion: boolean;
  onAnswer: (label: string) => void;
  onSkip: () => void;
  onGiveBack: () => void;
}

export function TaskView({
  held,
  labels,
  featureNames,
  showSuggestion,
  onAnswer,
  onSkip,
  onGiveBack,
}: TaskViewProps) {
  const { task } = held;
  const { input, prediction } = task;
  const attributes = Object.entries(task.attributes ?? {});
  const text = input.text;
  const features = input.features ?? [];
  const left = held.leaseEndsAt - Date.now();

  return (
    <article class="task" id="task" data-event-id={task.eventId} aria-labelledby="event-id">
      <header class="task-head">
        <h2 id="event-id">{task.eventId}</h2>
        <span class="stream">stream {task.stream}</span>
        {task.needed > 1 && (
          <span>
            answer {task.answers + 1} of {task.needed}
          </span>
        )}
        <span class={left < 30_000 ? 'lease low' : 'lease'} id="lease" title="Kept while you are active">
          {timeLeftText(left)}
        </span>
      </header>

      <div class="columns">
        <section class="event" aria-label="The event">
          {text !== undefined && (
            <>
              <pre class="event-text" id="event-text" tabIndex={0}>
                {text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text}
              </pre>
              {text.length > MAX_TEXT_CHARS && (
                <p class="hint">… and {text.length - MAX_TEXT_CHARS} more characters</p>
              )}
            </>
          )}
          {features.length > 0 && (
            <table class="features" id="features">
              <caption>Features</caption>
              <thead>
                <tr>
                  <th scope="col">Feature</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {features.slice(0, MAX_FEATURES).map((value, index) => (
                  <tr key={index}>
                    <th scope="row">{featureNames[index] || index}</th>
                    <td>{value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {features.length > MAX_FEATURES && <p class="hint">… and {features.length - MAX_FEATURES} more</p>}
          {attributes.length > 0 && (
            <dl class="attributes" id="attributes">
              {attributes.map(([name, value]) => (
                <div key={name}>
                  <dt>{name}</dt>
                  <dd>{value}</dd>
                </div>
              ))}
            </dl>
          )}
        </section>

        <section class="model" id="model" aria-label="The model’s view">
          <p class="reason" id="reason">
            {reasonText(task)}
          </p>
          {showSuggestion ? (
            <>
              <p>
                Model {prediction.model ? `${prediction.model.id} v${prediction.model.version}` : '(none)'}:{' '}
                <strong id="model-label">{prediction.label ?? 'no label'}</strong>
                {prediction.label !== null && ` (${percent(prediction.confidence)})`}
              </p>
              <table class="probabilities" id="probabilities">
                <caption class="visually-hidden">The model’s probabilities</caption>
                <tbody>
                  {Object.entries(prediction.probabilities)
                    .sort(([, a], [, b]) => b - a)
                    .map(([label, p]) => (
                      <tr key={label}>
                        <th scope="row">{label}</th>
                        <td>
                          <meter min={0} max={1} value={p} aria-label={`${label} probability`} />
                        </td>
                        <td>{percent(p)}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </>
          ) : (
            <p class="hint" id="suggestion-hidden">
              The model’s suggestion is hidden until you answer.
            </p>
          )}
        </section>
      </div>

      <div class="choices" role="group" aria-label="Your answer">
        {labels.map((label, index) => (
          <button type="button" class="choice" key={label} onClick={() => onAnswer(label)}>
            {index < MAX_KEYED_LABELS && <kbd>{index + 1}</kbd>} {label}
          </button>
        ))}
        <button type="button" class="secondary" id="skip" onClick={onSkip}>
          <kbd>s</kbd> Skip
        </button>
        <button type="button" class="secondary" id="give-back" onClick={onGiveBack}>
          <kbd>g</kbd> Give back
        </button>
      </div>
    </article>
  );
}

function percent(p: number): string {
  return `${Math.round(p * 1_000) / 10}%`;
}
