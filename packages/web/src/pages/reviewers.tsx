// Reviewers: who they are, how much they answer and how well they agree with the final labels;
// add one, disable or enable one, and manage their keys (a new key is shown once).
import type { ApiKeyInfo, CreatedKey, Me, ReviewClient, Reviewer, Role } from '@hitl/client/browser';
import { useEffect, useRef, useState } from 'preact/hooks';
import { numberText, percentText, timeText } from '../format';
import { errorText } from '../review-session';
import { Alert, Confirm, PageTitle, Status, TableWrap, useLoad } from '../components/ui';

const EVERY_MS = 30_000;

interface Row {
  reviewer: Reviewer;
  answers: number | null;
  answersLastHour: number | null;
  answersToday: number | null;
  agreementWithFinal: number | null;
  kappaWithFinal: number | null;
}

export function ReviewersPage({ client, me }: { client: ReviewClient; me: Me }) {
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [keysOf, setKeysOf] = useState<string | null>(null);
  const loaded = useLoad(
    async () => {
      const [reviewers, stats] = await Promise.all([client.listReviewers(), client.stats()]);
      const byId = new Map(stats.reviewers.map((r) => [r.reviewerId, r]));
      return reviewers
        .map((reviewer): Row => {
          const s = byId.get(reviewer.id);
          return {
            reviewer,
            answers: s?.answers ?? null,
            answersLastHour: s?.answersLastHour ?? null,
            answersToday: s?.answersToday ?? null,
            agreementWithFinal: s?.agreementWithFinal ?? null,
            kappaWithFinal: s?.kappaWithFinal ?? null,
          };
        })
        .sort((a, b) => a.reviewer.id.localeCompare(b.reviewer.id));
    },
    [client],
    EVERY_MS,
  );

  async function act(what: () => Promise<unknown>, done: string) {
    setFailure(null);
    try {
      await what();
      setMessage(done);
      await loaded.reload();
    } catch (error) {
      setFailure(errorText(error));
    }
  }

  const rows = loaded.data ?? [];
  const selected = rows.find((r) => r.reviewer.id === keysOf)?.reviewer ?? null;

  return (
    <div class="page" id="reviewers-page">
      <PageTitle>Reviewers</PageTitle>
      <Status id="reviewers-status" text={loaded.loading ? 'Loading reviewers…' : message} />
      <Alert id="reviewers-error" text={failure} />
      <Alert
        id="reviewers-load-error"
        text={loaded.error && `Could not load the reviewers: ${loaded.error}`}
      />

      <section aria-labelledby="reviewers-list-heading">
        <h2 id="reviewers-list-heading">Everyone</h2>
        <p class="hint">
          Answers are counted over the last 30 days; agreement is with the final labels of the tasks they
          answered.
        </p>
        <TableWrap label="Reviewers">
          <table id="reviewers-table" class="data">
            <caption class="visually-hidden">Reviewers, their throughput and agreement</caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Answers
                </th>
                <th scope="col" class="num">
                  Last hour
                </th>
                <th scope="col" class="num">
                  Today
                </th>
                <th scope="col" class="num">
                  Agreement
                </th>
                <th scope="col" class="num">
                  Kappa
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const r = row.reviewer;
                const disabled = r.disabledAt !== null;
                return (
                  <tr key={r.id} data-reviewer-id={r.id} class={disabled ? 'disabled' : undefined}>
                    <th scope="row">{r.id}</th>
                    <td>{r.name}</td>
                    <td>{r.role}</td>
                    <td class="state">{disabled ? `disabled ${timeText(r.disabledAt)}` : 'active'}</td>
                    <td class="num answers">{row.answers ?? 0}</td>
                    <td class="num answers-last-hour">{row.answersLastHour ?? 0}</td>
                    <td class="num answers-today">{row.answersToday ?? 0}</td>
                    <td class="num agreement">{percentText(row.agreementWithFinal)}</td>
                    <td class="num kappa">{numberText(row.kappaWithFinal, 2)}</td>
                    <td class="actions">
                      {disabled ? (
                        <button
                          type="button"
                          class="enable-reviewer"
                          onClick={() => void act(() => client.enableReviewer(r.id), `${r.id} is enabled.`)}
                        >
                          Enable <span class="visually-hidden">{r.id}</span>
                        </button>
                      ) : (
                        <button
                          type="button"
                          class="disable-reviewer"
                          disabled={r.id === me.id}
                          title={r.id === me.id ? 'You cannot disable yourself here' : undefined}
                          onClick={() =>
                            void act(
                              () => client.disableReviewer(r.id),
                              `${r.id} is disabled: their keys no longer work and their tasks went back to the queue.`,
                            )
                          }
                        >
                          Disable <span class="visually-hidden">{r.id}</span>
                        </button>
                      )}
                      <button
                        type="button"
                        class="show-keys"
                        aria-expanded={keysOf === r.id}
                        aria-controls="keys-panel"
                        onClick={() => setKeysOf(keysOf === r.id ? null : r.id)}
                      >
                        Keys <span class="visually-hidden">of {r.id}</span>
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      </section>

      {selected && (
        <KeysPanel key={selected.id} client={client} reviewer={selected} onClose={() => setKeysOf(null)} />
      )}

      <AddReviewer
        onAdd={(id, name, role) =>
          act(() => client.createReviewer({ id, role, ...(name ? { name } : {}) }), `${id} was added.`)
        }
      />
    </div>
  );
}

function AddReviewer({ onAdd }: { onAdd: (id: string, name: string, role: Role) => Promise<void> }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('reviewer');
  const [busy, setBusy] = useState(false);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    setBusy(true);
    await onAdd(id.trim(), name.trim(), role);
    setBusy(false);
    setId('');
    setName('');
  }

  return (
    <section aria-labelledby="add-reviewer-heading">
      <h2 id="add-reviewer-heading">Add a reviewer</h2>
      <form id="add-reviewer-form" class="form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="new-reviewer-id">Id</label>
          <input
            id="new-reviewer-id"
            name="id"
            required
            pattern="[A-Za-z0-9._\-]{1,100}"
            aria-describedby="new-reviewer-id-hint"
            autocomplete="off"
            value={id}
            onInput={(e) => setId(e.currentTarget.value)}
          />
          <span id="new-reviewer-id-hint" class="hint">
            Letters, digits, dot, underscore or dash; up to 100.
          </span>
        </div>
        <div class="field">
          <label for="new-reviewer-name">Name</label>
          <input
            id="new-reviewer-name"
            name="name"
            maxLength={200}
            autocomplete="off"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="new-reviewer-role">Role</label>
          <select
            id="new-reviewer-role"
            name="role"
            value={role}
            onChange={(e) => setRole(e.currentTarget.value === 'admin' ? 'admin' : 'reviewer')}
          >
            <option value="reviewer">reviewer</option>
            <option value="admin">admin</option>
          </select>
        </div>
        <button type="submit" id="add-reviewer" disabled={busy}>
          Add reviewer
        </button>
      </form>
    </section>
  );
}

function KeysPanel({
  client,
  reviewer,
  onClose,
}: {
  client: ReviewClient;
  reviewer: Reviewer;
  onClose: () => void;
}) {
  const keys = useLoad(() => client.listKeys(reviewer.id), [client, reviewer.id]);
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const newKey = useRef<HTMLInputElement>(null);

  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (created) newKey.current?.select();
  }, [created]);

  async function createKey(event: SubmitEvent) {
    event.preventDefault();
    setFailure(null);
    const trimmed = days.trim();
    const expiresInDays = trimmed === '' ? undefined : Number(trimmed);
    if (expiresInDays !== undefined && !(expiresInDays > 0 && expiresInDays <= 3_650)) {
      setFailure('Expiry must be a number of days above 0 and at most 3650, or left empty for none.');
      return;
    }
    setBusy(true);
    try {
      const made = await client.createKey(reviewer.id, expiresInDays === undefined ? {} : { expiresInDays });
      setCreated(made);
      setMessage(`A new key ${made.info.id} was made for ${reviewer.id}.`);
      setDays('');
      await keys.reload();
    } catch (error) {
      setFailure(errorText(error));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(key: ApiKeyInfo) {
    setFailure(null);
    setBusy(true);
    try {
      await client.revokeKey(key.id);
      setConfirming(null);
      setMessage(`Key ${key.id} is revoked.`);
      await keys.reload();
    } catch (error) {
      setFailure(errorText(error));
    } finally {
      setBusy(false);
    }
  }

  const list = [...(keys.data ?? [])].sort((a, b) => b.createdAt.localeCompare(a.createdAt));

  return (
    <section id="keys-panel" class="panel" aria-labelledby="keys-heading" data-reviewer-id={reviewer.id}>
      <h2 id="keys-heading" tabIndex={-1} ref={heading}>
        Keys of {reviewer.id}
      </h2>
      <Status id="keys-status" text={keys.loading ? 'Loading keys…' : message} />
      <Alert id="keys-error" text={failure ?? (keys.error && `Could not load the keys: ${keys.error}`)} />
      {created && (
        <div class="new-key" id="new-key-box">
          <label for="new-key">New key for {created.info.reviewerId}</label>
          <input
            id="new-key"
            ref={newKey}
            readOnly
            value={created.key}
            aria-describedby="new-key-note"
            spellcheck={false}
            autocomplete="off"
          />
          <p id="new-key-note" class="warning-text">
            Copy it now: it will not be shown again. Only its hash is kept.
          </p>
          <button type="button" id="new-key-done" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      <TableWrap label={`Keys of ${reviewer.id}`}>
        <table id="keys-table" class="data">
          <caption class="visually-hidden">Keys of {reviewer.id}</caption>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Created</th>
              <th scope="col">By</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.length === 0 && !keys.loading && (
              <tr>
                <td colSpan={7}>No keys.</td>
              </tr>
            )}
            {list.map((key, index) => {
              const expired = key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now();
              const state = key.revokedAt
                ? `revoked ${timeText(key.revokedAt)}`
                : expired
                  ? 'expired'
                  : 'active';
              return (
                <tr key={key.id} data-key-id={key.id}>
                  <th scope="row">{key.id}</th>
                  <td>{timeText(key.createdAt)}</td>
                  <td>{key.createdBy ?? '(command)'}</td>
                  <td>{timeText(key.lastUsedAt)}</td>
                  <td>{key.expiresAt ? timeText(key.expiresAt) : 'never'}</td>
                  <td class="state">{state}</td>
                  <td class="actions">
                    {key.revokedAt === null &&
                      (confirming === key.id ? (
                        <Confirm
                          id={`revoke-${index}`}
                          question={`Revoke key ${key.id}? It stops working at once.`}
                          confirmText="Yes, revoke"
                          busy={busy}
                          onConfirm={() => void revoke(key)}
                          onCancel={() => setConfirming(null)}
                        />
                      ) : (
                        <button type="button" class="revoke-key" onClick={() => setConfirming(key.id)}>
                          Revoke <span class="visually-hidden">key {key.id}</span>
                        </button>
                      ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableWrap>
      <form id="create-key-form" class="form" onSubmit={(e) => void createKey(e)}>
        <div class="field">
          <label for="key-expiry-days">Expires in (days, optional)</label>
          <input
            id="key-expiry-days"
            name="expiresInDays"
            type="number"
            inputMode="decimal"
            min="0"
            max="3650"
            step="any"
            aria-describedby="key-expiry-hint"
            value={days}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
          <span id="key-expiry-hint" class="hint">
            Empty: the key never expires.
          </span>
        </div>
        <button type="submit" id="create-key" disabled={busy}>
          Create a key
        </button>
        <button type="button" id="close-keys" onClick={onClose}>
          Close
        </button>
      </form>
    </section>
  );
}
