import { useState } from 'preact/hooks';

export function SignIn({ onSignIn }: { onSignIn: (apiKey: string) => Promise<string | null> }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    setBusy(true);
    const problem = await onSignIn(key.trim());
    setBusy(false);
    if (problem) setError(problem);
  }

  return (
    <main class="sign-in">
      <h1>hitl review</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="hitl_…"
          required
          autofocus
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <p class="hint">
          The key stays in this tab’s memory only: reloading or closing the tab signs you out.
        </p>
        {error && (
          <p class="error" role="alert" id="sign-in-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
