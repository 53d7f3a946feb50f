// The model the routing policy routes for (its name is the model's id): every version, newest
// first, with its lineage, metrics and certified thresholds; promote one or roll back, each
// after an in-page confirmation with a reason; training runs, and a button to train now.
import {
  ReviewApiError,
  type ModelVersionSummary,
  type ReviewClient,
  type TrainingRun,
} from '@hitl/client/browser';
import { useState } from 'preact/hooks';
import { numberText, percentText, timeText } from '../format';
import { errorText } from '../review-session';
import { Alert, Confirm, PageTitle, Status, TableWrap, useLoad } from '../components/ui';

const EVERY_MS = 10_000;

interface ModelData {
  modelId: string | null;
  versions: ModelVersionSummary[];
  trainings: TrainingRun[];
}

type Pending = { kind: 'promote'; version: number } | { kind: 'rollback' } | null;

export function ModelsPage({ client }: { client: ReviewClient }) {
  const [pending, setPending] = useState<Pending>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const loaded = useLoad(
    async (): Promise<ModelData> => {
      // The history rather than getPolicy: before the first version it is empty, where getPolicy
      // answers 404 (which the browser logs as an error).
      const history = await client.policyHistory();
      const latest = history.reduce<(typeof history)[number] | null>(
        (best, p) => (best === null || p.version > best.version ? p : best),
        null,
      );
      if (latest === null) return { modelId: null, versions: [], trainings: [] };
      const modelId = latest.name;
      const [versions, trainings] = await Promise.all([
        client.listModelVersions(modelId).catch((error: unknown) => {
          // No version registered yet.
          if (error instanceof ReviewApiError && error.code === 'HITL_ERR_MODEL_NOT_FOUND') return [];
          throw error;
        }),
        client.listTrainings(modelId),
      ]);
      return { modelId, versions: [...versions].sort((a, b) => b.version - a.version), trainings };
    },
    [client],
    EVERY_MS,
  );

  const data = loaded.data;
  const modelId = data?.modelId ?? null;
  const promoted = data?.versions.find((v) => v.status === 'promoted') ?? null;

  function ask(next: Pending) {
    setPending(next);
    setReason('');
    setFailure(null);
  }

  async function run(what: () => Promise<string>) {
    setBusy(true);
    setFailure(null);
    try {
      setMessage(await what());
      setPending(null);
      await loaded.reload();
    } catch (error) {
      setFailure(errorText(error));
    } finally {
      setBusy(false);
    }
  }

  const why = reason.trim() === '' ? undefined : reason.trim();

  return (
    <div class="page" id="models-page">
      <PageTitle>Models</PageTitle>
      <Status id="models-status" text={loaded.loading ? 'Loading the model…' : message} />
      <Alert id="models-error" text={failure} />
      <Alert id="models-load-error" text={loaded.error && `Could not load the model: ${loaded.error}`} />
      {data && modelId === null && (
        <p id="models-empty">No routing policy yet, so no model: set one on the Policy page.</p>
      )}
      {modelId !== null && (
        <>
          <p>
            Model <strong id="model-id">{modelId}</strong>
            {promoted ? (
              <>
                , version <strong id="promoted-version">{promoted.version}</strong> promoted{' '}
                {timeText(promoted.promotedAt)}.
              </>
            ) : (
              ', no version promoted: every item goes to a person.'
            )}
          </p>
          <section aria-labelledby="versions-heading">
            <h2 id="versions-heading">Versions</h2>
            <div class="buttons">
              <button
                type="button"
                id="rollback"
                disabled={promoted === null || busy}
                onClick={() => ask({ kind: 'rollback' })}
              >
                Roll back…
              </button>
            </div>
            {pending && (
              <Confirm
                id={pending.kind === 'promote' ? 'promote-confirm' : 'rollback-confirm'}
                question={
                  pending.kind === 'promote'
                    ? `Promote version ${pending.version} of ${modelId}? The router uses it for new predictions at once.`
                    : `Roll ${modelId} back from version ${promoted?.version ?? '?'} to the version promoted before it?`
                }
                confirmText={pending.kind === 'promote' ? `Promote version ${pending.version}` : 'Roll back'}
                busy={busy}
                onCancel={() => setPending(null)}
                onConfirm={() =>
                  void run(async () => {
                    if (pending.kind === 'promote') {
                      const v = await client.promote(modelId, pending.version, why);
                      return `Version ${v.version} is promoted.`;
                    }
                    const v = await client.rollback(modelId, why);
                    return `Rolled back: version ${v.version} is promoted.`;
                  })
                }
              >
                <div class="field">
                  <label for={pending.kind === 'promote' ? 'promote-reason' : 'rollback-reason'}>
                    Reason (kept with the change)
                  </label>
                  <input
                    id={pending.kind === 'promote' ? 'promote-reason' : 'rollback-reason'}
                    maxLength={2_000}
                    autocomplete="off"
                    value={reason}
                    onInput={(e) => setReason(e.currentTarget.value)}
                  />
                </div>
              </Confirm>
            )}
            {data && data.versions.length === 0 ? (
              <p id="versions-empty">No version of {modelId} is registered yet.</p>
            ) : (
              <VersionsTable
                versions={data?.versions ?? []}
                busy={busy}
                onPromote={(v) => ask({ kind: 'promote', version: v })}
              />
            )}
            {data?.versions.map((v) => (
              <VersionDetails key={v.version} version={v} />
            ))}
          </section>
          <section aria-labelledby="trainings-heading">
            <h2 id="trainings-heading">Training runs</h2>
            <div class="buttons">
              <button
                type="button"
                id="train-now"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    const r = await client.requestTraining(modelId);
                    return `Training requested (${r.id}); the trainer takes it up within seconds.`;
                  })
                }
              >
                Train now
              </button>
              <button type="button" id="models-refresh" onClick={() => void loaded.reload()}>
                Refresh
              </button>
            </div>
            <TrainingsTable runs={data?.trainings ?? []} />
          </section>
        </>
      )}
    </div>
  );
}

function VersionsTable({
  versions,
  busy,
  onPromote,
}: {
  versions: ModelVersionSummary[];
  busy: boolean;
  onPromote: (version: number) => void;
}) {
  return (
    <TableWrap label="Model versions">
      <table id="versions-table" class="data">
        <caption class="visually-hidden">Model versions, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Promoted</th>
            <th scope="col">Parent</th>
            <th scope="col">Classes</th>
            <th scope="col">Input</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} data-version={v.version} data-status={v.status}>
              <th scope="row">{v.version}</th>
              <td class="status">{v.status}</td>
              <td>{timeText(v.createdAt)}</td>
              <td>{timeText(v.promotedAt)}</td>
              <td class="parent">{v.parentVersion ?? '–'}</td>
              <td>{v.classes.join(', ')}</td>
              <td>
                {v.inputKind}
                {v.featureWidth !== null && ` (${v.featureWidth} features)`}
              </td>
              <td>
                {(v.status === 'candidate' || v.status === 'retired') && (
                  <button type="button" class="promote" disabled={busy} onClick={() => onPromote(v.version)}>
                    Promote<span class="visually-hidden"> version {v.version}</span>…
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** The numeric metrics of a version, and its certified thresholds, in a disclosure. */
function VersionDetails({ version: v }: { version: ModelVersionSummary }) {
  const metrics = Object.entries(v.metrics).filter(
    (entry): entry is [string, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1]),
  );
  const t = v.thresholds;
  return (
    <details id={`version-${v.version}`} class="version-details">
      <summary>
        Version {v.version}: metrics, {t ? 'certified thresholds, ' : ''}model card
      </summary>
      {metrics.length === 0 ? (
        <p>No numeric metrics.</p>
      ) : (
        <TableWrap label={`Metrics of version ${v.version}`}>
          <table class="data metrics" id={`metrics-${v.version}`}>
            <caption>Metrics of version {v.version}</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" class="num">
                  Value
                </th>
              </tr>
            </thead>
            <tbody>
              {metrics.map(([name, value]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td class="num">{numberText(value, 4)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      {v.temperature !== null && <p>Calibration temperature: {numberText(v.temperature, 3)}</p>}
      {t ? (
        <TableWrap label={`Certified thresholds of version ${v.version}`}>
          <table class="data thresholds" id={`thresholds-${v.version}`}>
            <caption>
              Thresholds certified for {percentText(t.targetAccuracy)} accuracy at{' '}
              {percentText(t.confidenceLevel, 0)} confidence, on {t.examples} held-out examples
            </caption>
            <thead>
              <tr>
                <th scope="col">Class</th>
                <th scope="col" class="num">
                  Threshold
                </th>
                <th scope="col" class="num">
                  Decisions
                </th>
                <th scope="col" class="num">
                  Correct
                </th>
                <th scope="col" class="num">
                  Lower bound
                </th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(t.perClass).map(([label, c]) => (
                <tr key={label}>
                  <th scope="row">{label}</th>
                  <td class="num">{c.threshold === null ? 'people decide' : numberText(c.threshold, 3)}</td>
                  <td class="num">{c.decisions}</td>
                  <td class="num">{c.correct}</td>
                  <td class="num">{percentText(c.lowerBound)}</td>
                  <td>{c.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : (
        <p>Not certified for a target accuracy.</p>
      )}
      <h3 class="card-heading">Model card</h3>
      {Object.keys(v.modelCard).length === 0 ? (
        <p>No model card was recorded for this version.</p>
      ) : (
        // As text: the card is JSON its trainer or importer wrote, shown as it is.
        <pre
          class="model-card"
          id={`card-${v.version}`}
          tabIndex={0}
          aria-label={`Model card of version ${v.version}`}
        >
          {JSON.stringify(v.modelCard, null, 2)}
        </pre>
      )}
    </details>
  );
}

function TrainingsTable({ runs }: { runs: TrainingRun[] }) {
  if (runs.length === 0) return <p id="trainings-empty">No training runs yet.</p>;
  return (
    <TableWrap label="Training runs">
      <table id="trainings-table" class="data">
        <caption class="visually-hidden">Training runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Status</th>
            <th scope="col">Trigger</th>
            <th scope="col">Started because</th>
            <th scope="col" class="num">
              Examples
            </th>
            <th scope="col" class="num">
              Version
            </th>
            <th scope="col">Outcome</th>
            <th scope="col">Reason</th>
            <th scope="col">Finished</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-training-id={r.id} data-status={r.status}>
              <th scope="row">{timeText(r.startedAt)}</th>
              <td class="status">{r.status}</td>
              <td class="trigger">{r.trigger}</td>
              <td>{r.startedBecause ?? '–'}</td>
              <td class="num">
                {r.examples} (+{r.evalExamples} held out)
              </td>
              <td class="num">{r.version ?? '–'}</td>
              <td class="outcome">{r.outcome ?? '–'}</td>
              <td>{r.reason ?? '–'}</td>
              <td>{timeText(r.finishedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}
