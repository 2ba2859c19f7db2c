// Entry point: sign-in page or workspace, and the switch between them.

import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { ApiError, me } from './api.js';
import { Workspace } from './app.js';
import { clearSession, loadSession, onSessionChangedElsewhere, saveSession, updateStoredUser, type Session } from './session.js';
import { SignInView } from './signin.js';

const app = document.getElementById('app') as HTMLDivElement;
let signIn: SignInView | null = null;
let workspace: Workspace | null = null;

function unmount(): void {
  signIn?.destroy();
  signIn = null;
  workspace?.destroy();
  workspace = null;
}

function showSignIn(notice?: string): void {
  unmount();
  app.dataset.view = 'signin';
  signIn = new SignInView(app, {
    notice,
    onSignedIn: (session, remember) => {
      saveSession(session, remember);
      showWorkspace(session, false);
    },
  });
}

function showWorkspace(session: Session, validate: boolean): void {
  unmount();
  app.dataset.view = 'app';
  const ws = new Workspace(app, session, { signedOut: (message) => showSignIn(message) });
  workspace = ws;
  ws.start();
  if (!validate) return;
  // A stored token may have expired or been revoked; the socket would say so too, but
  // this also refreshes the username. Network errors are fine: the socket retries.
  me(session.token).then(
    (user) => {
      if (workspace !== ws) return;
      updateStoredUser(user);
      ws.setUser(user);
    },
    (err: unknown) => {
      if (workspace !== ws || !(err instanceof ApiError) || err.status !== 401) return;
      clearSession();
      showSignIn('Your session has expired. Please sign in again.');
    },
  );
}

onSessionChangedElsewhere(() => {
  const s = loadSession();
  if (!s) {
    if (workspace) showSignIn('You signed out in another tab.');
  } else if (!workspace || workspace.token !== s.token) {
    showWorkspace(s, true);
  }
});

async function boot(): Promise<void> {
  // Measure terminal cells with the final font.
  try {
    await document.fonts.ready;
  } catch {
    // ignore
  }
  const session = loadSession();
  if (session) showWorkspace(session, true);
  else showSignIn();
}

void boot();
