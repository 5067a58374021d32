/**
 * Links into the playground (README "Playground"), shared by the app that reads them
 * (web/src/session.ts) and the programs that print them (`npm start`, `npm run demo`). A link may
 * hand over an API token as `?token=` inside the fragment: the app stores it and removes it from the
 * address bar, and a fragment never reaches the server or its logs.
 */

/** The fragment parameter that carries a token. */
export const TOKEN_PARAM = 'token';

/** `<base>/#<route>?token=…`: the playground at `route` (`/`, `/chats/<id>`), signed in with `token`. */
export function signedInUrl(baseUrl: string, token: string, route = '/'): string {
  return `${baseUrl.replace(/\/+$/, '')}/#${route}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
}
