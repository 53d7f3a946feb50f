// The app's frame: sign in with a key, then the pages the role may see. The key lives in this
// component's state only, never in storage or cookies, so closing or reloading the tab signs the
// reviewer out; the page's address (#/queue, …) survives a reload and is opened after sign-in.
import { ReviewClient, type Me } from '@hitl/client/browser';
import { useEffect, useRef, useState } from 'preact/hooks';
import { LearningPage } from './pages/learning';
import { ModelsPage } from './pages/models';
import { PolicyPage } from './pages/policy';
import { QueuePage } from './pages/queue';
import { ReviewersPage } from './pages/reviewers';
import { ReviewScreen } from './components/review-screen';
import { SignIn } from './components/sign-in';
import { errorText } from './review-session';
import { PAGES, allowedPage, hashOf, pageLabel, type PageId } from './routes';

export interface Signed {
  client: ReviewClient;
  me: Me;
}

export function App({ baseUrl }: { baseUrl: string }) {
  const [signed, setSigned] = useState<Signed | null>(null);

  async function signIn(apiKey: string): Promise<string | null> {
    try {
      // Few retries: a person is waiting on the form, and a wrong key is refused at once anyway.
      const client = new ReviewClient({ baseUrl, apiKey, maxRetries: 1 });
      const me = await client.me();
      setSigned({ client: new ReviewClient({ baseUrl, apiKey }), me });
      return null;
    } catch (error) {
      return errorText(error);
    }
  }

  if (!signed) return <SignIn onSignIn={signIn} />;
  return <Shell client={signed.client} me={signed.me} onSignOut={() => setSigned(null)} />;
}

function useHashPage(me: Me): PageId {
  const [page, setPage] = useState<PageId>(() => allowedPage(me.role, location.hash));
  useEffect(() => {
    function sync() {
      const allowed = allowedPage(me.role, location.hash);
      // An address the role may not see (or none) shows the review screen, and says so in the bar.
      if (location.hash !== hashOf(allowed)) history.replaceState(null, '', hashOf(allowed));
      setPage(allowed);
    }
    sync();
    window.addEventListener('hashchange', sync);
    return () => window.removeEventListener('hashchange', sync);
  }, [me.role]);
  return page;
}

function Shell({ client, me, onSignOut }: { client: ReviewClient; me: Me; onSignOut: () => void }) {
  const page = useHashPage(me);
  const first = useRef(true);
  const admin = me.role === 'admin';

  useEffect(() => {
    document.title = `${pageLabel(page)} · hitl review`;
    // A page opened from the navigation: its heading takes the focus, so a screen reader says where
    // the reader is and Tab goes on from the top of the page.
    if (first.current) first.current = false;
    else document.getElementById('page-title')?.focus();
  }, [page]);

  function skipToContent(event: MouseEvent) {
    event.preventDefault();
    document.getElementById('main')?.focus();
  }

  return (
    <div class="shell">
      <a class="skip-link" href="#main" onClick={skipToContent}>
        Skip to content
      </a>
      <header class="bar" id="app-header">
        <span class="brand">hitl</span>
        {admin && (
          <nav aria-label="Pages" id="nav">
            <ul>
              {PAGES.map((p) => (
                <li key={p.id}>
                  <a id={`nav-${p.id}`} href={hashOf(p.id)} aria-current={p.id === page ? 'page' : undefined}>
                    {p.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <span class="who" id="who">
          {me.name} <span class="role">({me.role})</span>
        </span>
        <button type="button" id="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" data-page={page} tabIndex={-1}>
        {page === 'review' && <ReviewScreen client={client} me={me} />}
        {page === 'queue' && <QueuePage client={client} />}
        {page === 'reviewers' && <ReviewersPage client={client} me={me} />}
        {page === 'models' && <ModelsPage client={client} />}
        {page === 'policy' && <PolicyPage client={client} />}
        {page === 'learning' && <LearningPage client={client} />}
      </main>
    </div>
  );
}
