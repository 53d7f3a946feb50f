// The routing policy: the version in force and its history, and an editor of the whole spec as
// JSON. The API checks a spec in full and lists every problem, shown here as field: problem.
import type { PolicySpec, ReviewClient, StoredPolicy } from '@hitl/client/browser';
import { DEFAULT_POLICY_SPEC } from '@hitl/policy/policy';
import { useEffect, useState } from 'preact/hooks';
import { fieldProblems, timeText, type FieldProblem } from '../format';
import { errorText } from '../review-session';
import { Alert, PageTitle, Status, TableWrap, useLoad } from '../components/ui';

interface PolicyData {
  current: StoredPolicy | null;
  history: StoredPolicy[];
}

/** The spec of a stored version: everything but its name, version and provenance. */
export function specOf(policy: StoredPolicy): Record<string, unknown> {
  const { name: _name, version: _version, createdBy: _by, reason: _reason, createdAt: _at, ...spec } = policy;
  return spec;
}

export function PolicyPage({ client }: { client: ReviewClient }) {
  const loaded = useLoad(async (): Promise<PolicyData> => {
    // The version in force is the newest: the history alone, as getPolicy answers 404 before the
    // first version (which the browser logs as an error).
    const history = [...(await client.policyHistory())].sort((a, b) => b.version - a.version);
    return { current: history[0] ?? null, history };
  }, [client]);
  const [text, setText] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const current = loaded.data?.current ?? null;
  const loadedVersion = loaded.data ? (current?.version ?? 0) : null;

  // The editor starts from the version in force, and again after a save.
  useEffect(() => {
    if (loadedVersion === null) return;
    setText(JSON.stringify(current ? specOf(current) : DEFAULT_POLICY_SPEC, null, 2));
  }, [loadedVersion]);

  async function save(event: SubmitEvent) {
    event.preventDefault();
    setFailure(null);
    setProblems([]);
    setMessage(null);
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (error) {
      setFailure(`The spec is not valid JSON, so nothing was sent: ${(error as Error).message}`);
      return;
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      setFailure('The spec must be a JSON object ({ … }), so nothing was sent.');
      return;
    }
    setBusy(true);
    try {
      const saved = await client.setPolicy(
        spec as PolicySpec,
        reason.trim() === '' ? undefined : reason.trim(),
      );
      setMessage(`Saved: version ${saved.version} is in force.`);
      setReason('');
      await loaded.reload();
    } catch (error) {
      const listed = fieldProblems(error);
      setProblems(listed);
      setFailure(
        listed.length > 0
          ? `The policy was refused: ${listed.length} ${listed.length === 1 ? 'problem' : 'problems'}.`
          : `The policy was not saved: ${errorText(error)}`,
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="page" id="policy-page">
      <PageTitle>Routing policy</PageTitle>
      <Status id="policy-status" text={loaded.loading ? 'Loading the policy…' : message} />
      <Alert id="policy-load-error" text={loaded.error && `Could not load the policy: ${loaded.error}`} />

      <section aria-labelledby="policy-current-heading">
        <h2 id="policy-current-heading">In force</h2>
        {loaded.data && !current && (
          <p id="policy-none">No policy yet: the first one saved below is version 1.</p>
        )}
        {current && (
          <dl class="facts" id="policy-current">
            <div>
              <dt>Name (model)</dt>
              <dd id="policy-name">{current.name}</dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd id="policy-version">{current.version}</dd>
            </div>
            <div>
              <dt>By</dt>
              <dd id="policy-by">{current.createdBy ?? '(command)'}</dd>
            </div>
            <div>
              <dt>When</dt>
              <dd id="policy-when">{timeText(current.createdAt)}</dd>
            </div>
            <div>
              <dt>Reason</dt>
              <dd id="policy-reason-shown">{current.reason ?? '–'}</dd>
            </div>
          </dl>
        )}
      </section>

      <section aria-labelledby="policy-edit-heading">
        <h2 id="policy-edit-heading">Change it</h2>
        <form id="policy-form" class="form stacked" onSubmit={(e) => void save(e)}>
          <div class="field">
            <label for="policy-spec">The whole spec, as JSON</label>
            <textarea
              id="policy-spec"
              name="spec"
              rows={18}
              spellcheck={false}
              aria-describedby="policy-spec-hint"
              aria-invalid={failure !== null}
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
            />
            <span id="policy-spec-hint" class="hint">
              Saving makes the next version; every field is checked and every problem listed.
            </span>
          </div>
          <div class="field">
            <label for="policy-reason">Reason for the change</label>
            <input
              id="policy-reason"
              name="reason"
              maxLength={2_000}
              autocomplete="off"
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </div>
          <button type="submit" id="policy-save" disabled={busy || loaded.data === null}>
            Save as a new version
          </button>
        </form>
        <div role="alert" id="policy-error-box">
          {failure && (
            <p id="policy-error" class="error">
              {failure}
            </p>
          )}
          {problems.length > 0 && (
            <ul id="policy-problems" class="error">
              {problems.map((p, i) => (
                <li key={i}>
                  <code class="field-name">{p.field}</code>: {p.problem}
                </li>
              ))}
            </ul>
          )}
        </div>
      </section>

      <section aria-labelledby="policy-history-heading">
        <h2 id="policy-history-heading">History</h2>
        {loaded.data && loaded.data.history.length === 0 ? (
          <p>No versions yet.</p>
        ) : (
          <TableWrap label="Policy history">
            <table id="policy-history" class="data">
              <caption class="visually-hidden">Every version of the policy, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">When</th>
                  <th scope="col">By</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Spec</th>
                </tr>
              </thead>
              <tbody>
                {(loaded.data?.history ?? []).map((p) => (
                  <tr key={p.version} data-version={p.version}>
                    <th scope="row">{p.version}</th>
                    <td>{timeText(p.createdAt)}</td>
                    <td>{p.createdBy ?? '(command)'}</td>
                    <td>{p.reason ?? '–'}</td>
                    <td>
                      <details>
                        <summary>
                          Spec <span class="visually-hidden">of version {p.version}</span>
                        </summary>
                        <pre class="spec">{JSON.stringify(specOf(p), null, 2)}</pre>
                      </details>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
    </div>
  );
}
