/**
 * The playground (README "Playground"): sign-in, then the chat list beside the current page (a chat,
 * a new chat, usage, or an admin section). Every call goes through the typed client (src/client).
 */
import { useEffect, useState } from 'preact/hooks';
import { AdminPage } from './admin/admin-page';
import { ChatList } from './chats/chat-list';
import { ChatView } from './chats/chat-view';
import { NewChat } from './chats/new-chat';
import { useRoute, href } from './router';
import { describeError, signIn, signOut, takeToken, type Session } from './session';
import { UsagePage } from './usage-page';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(true);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const token = takeToken();
    if (!token) return setChecking(false);
    signIn(token)
      .then(setSession, (err: unknown) => setError(describeError(err)))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="centered">Loading…</p>;
  if (!session) {
    return (
      <SignIn
        error={error}
        onSignIn={(token) =>
          signIn(token).then(
            (s) => (setError(null), setSession(s)),
            (err: unknown) => setError(describeError(err)),
          )
        }
      />
    );
  }
  return <Shell session={session} onSignOut={() => (signOut(), setSession(null))} />;
}

function SignIn({ error, onSignIn }: { error: string | null; onSignIn: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <h1>chatd</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void onSignIn(token.trim()).finally(() => setBusy(false));
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="current-password"
          placeholder="chatd_…"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          required
        />
        <button type="submit" disabled={busy || !token.trim()}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <p class="hint">
          <code>npm start</code> prints the admin token; <code>chatd</code> admins create more with{' '}
          <code>POST /api/v1/users/{'{id}'}/tokens</code>.
        </p>
      </form>
    </main>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const activeChat = route.page === 'chat' ? route.chatId : null;
  useEffect(() => setMenuOpen(false), [route]);
  return (
    <div class={`shell${menuOpen ? ' menu-open' : ''}`}>
      <header class="topbar">
        <button
          type="button"
          class="menu-toggle"
          aria-label="Chats"
          aria-expanded={menuOpen}
          onClick={() => setMenuOpen(!menuOpen)}
        >
          ☰
        </button>
        <a class="brand" href={href({ page: 'new' })}>
          chatd
        </a>
        <nav aria-label="Main">
          <a href={href({ page: 'new' })}>New chat</a>
          <a href={href({ page: 'usage' })}>Usage</a>
          {session.user.role === 'admin' && <a href={href({ page: 'admin', section: 'providers' })}>Admin</a>}
        </nav>
        <span class="who" title={session.user.username}>
          {session.user.name || session.user.username}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <aside class="sidebar">
        <ChatList client={session.client} activeChatId={activeChat} />
      </aside>
      <main class="content">
        {route.page === 'chat' && <ChatView key={route.chatId} session={session} chatId={route.chatId} />}
        {route.page === 'new' && <NewChat session={session} />}
        {route.page === 'usage' && <UsagePage session={session} />}
        {route.page === 'admin' &&
          (session.user.role === 'admin' ? (
            <AdminPage client={session.client} section={route.section} />
          ) : (
            <p role="alert">Admins only.</p>
          ))}
      </main>
    </div>
  );
}
