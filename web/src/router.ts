/**
 * Routes live in the URL fragment (`#/chats/<id>`, `#/admin/providers`), so the API serves one
 * index.html for the whole app and a reload keeps the view. Small enough not to need a router library.
 */
import { useEffect, useState } from 'preact/hooks';

export const ADMIN_SECTIONS = ['providers', 'models', 'users', 'limits', 'mcp', 'approvals'] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

export type Route =
  { page: 'new' } | { page: 'chat'; chatId: string } | { page: 'admin'; section: AdminSection } | { page: 'usage' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'chats' && parts[1]) return { page: 'chat', chatId: parts[1] };
  if (parts[0] === 'usage') return { page: 'usage' };
  if (parts[0] === 'admin') {
    const section = ADMIN_SECTIONS.find((s) => s === parts[1]) ?? 'providers';
    return { page: 'admin', section };
  }
  return { page: 'new' };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'chat':
      return `#/chats/${encodeURIComponent(route.chatId)}`;
    case 'admin':
      return `#/admin/${route.section}`;
    case 'usage':
      return '#/usage';
    case 'new':
      return '#/';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

/** The current route, updated on every fragment change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
