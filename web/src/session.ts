/**
 * Signing in: the playground talks to the chatd that served it (same origin) with an API token kept
 * in this browser's localStorage, so a reload or an API restart keeps the user signed in. A link may
 * carry a token (src/client/playground-link.ts; `npm start` and `npm run demo` print one); it is
 * stored and removed from the address bar at once.
 */
import { ChatdApiError, createChatdClient, unwrap, type ChatdClient, type User } from '../../src/client';
import { TOKEN_PARAM } from '../../src/client/playground-link';

const TOKEN_KEY = 'chatd.token';

export interface Session {
  client: ChatdClient;
  user: User;
}

/** A token handed over in the address bar's fragment, stored and removed from the URL; else the stored one. */
export function takeToken(): string | null {
  const [route, query] = location.hash.split('?', 2);
  const fromLink = query ? new URLSearchParams(query).get(TOKEN_PARAM) : null;
  if (fromLink) {
    localStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(null, '', `${location.pathname}${route ?? ''}`);
    return fromLink;
  }
  return localStorage.getItem(TOKEN_KEY);
}

/** Checks the token against GET /users/me and keeps it; rejects with ChatdApiError (401 for a bad token). */
export async function signIn(token: string): Promise<Session> {
  const client = createChatdClient({ baseUrl: location.origin, token });
  const user = unwrap(await client.api.GET('/users/me'));
  localStorage.setItem(TOKEN_KEY, token);
  return { client, user };
}

export function signOut(): void {
  localStorage.removeItem(TOKEN_KEY);
}

/** A message for any failure of an API call: the server's own message for an API error. */
export function describeError(err: unknown): string {
  if (err instanceof ChatdApiError) return err.message;
  if (err instanceof TypeError) return 'chatd cannot be reached';
  return err instanceof Error ? err.message : String(err);
}
