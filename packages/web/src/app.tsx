// The app's frame: sign in with a key, then review. The key lives in this component's state
// only, never in storage or cookies, so closing or reloading the tab signs the reviewer out.
import { ReviewClient, type Me } from '@hitl/client/browser';
import { useState } from 'preact/hooks';
import { ReviewScreen } from './components/review-screen';
import { SignIn } from './components/sign-in';
import { errorText } from './review-session';

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
  return <ReviewScreen client={signed.client} me={signed.me} onSignOut={() => setSigned(null)} />;
}
