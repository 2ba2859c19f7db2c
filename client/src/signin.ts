// The sign-in page.

import { ApiError, login } from './api.js';
import { h, logo } from './dom.js';
import { plural } from './format.js';
import type { Session } from './session.js';
import { storageGet, storageSet } from './storage.js';

const REMEMBER_KEY = 'ptyhub.remember';
const LAST_USER_KEY = 'ptyhub.lastUsername';

export interface SignInOptions {
  /** Shown above the form, e.g. "Your session has expired". */
  notice?: string;
  onSignedIn(session: Session, remember: boolean): void;
}

export class SignInView {
  private readonly root: HTMLDivElement;
  private busy = false;

  constructor(parent: HTMLElement, opts: SignInOptions) {
    const username = h('input', {
      id: 'username',
      name: 'username',
      type: 'text',
      autocomplete: 'username',
      autocapitalize: 'none',
      autocorrect: 'off',
      spellcheck: 'false',
      required: true,
      value: storageGet('local', LAST_USER_KEY) ?? '',
    });
    const password = h('input', {
      id: 'password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    });
    const remember = h('input', { id: 'remember', name: 'remember', type: 'checkbox' });
    remember.checked = storageGet('local', REMEMBER_KEY) === '1';
    const error = h('div', { class: 'signin-error', id: 'signin-error', role: 'alert', 'aria-live': 'assertive' });
    const submit = h('button', { class: 'primary signin-submit', type: 'submit' }, 'Sign in');

    const form = h(
      'form',
      { class: 'signin-card', novalidate: true, 'aria-labelledby': 'signin-title' },
      h(
        'div',
        { class: 'signin-brand' },
        logo('signin-logo'),
        h('div', {}, h('h1', { id: 'signin-title' }, 'ptyhub'), h('p', { class: 'signin-sub' }, 'Your terminals, on every device')),
      ),
      opts.notice ? h('div', { class: 'signin-notice', role: 'status' }, opts.notice) : null,
      h('label', { for: 'username' }, 'Username'),
      username,
      h('label', { for: 'password' }, 'Password'),
      password,
      h('label', { class: 'check', for: 'remember' }, remember, h('span', {}, 'Keep me signed in on this browser')),
      error,
      submit,
    );

    const setBusy = (b: boolean) => {
      this.busy = b;
      form.dataset.busy = b ? 'true' : 'false';
      submit.disabled = b;
      username.readOnly = password.readOnly = b;
      submit.textContent = b ? 'Signing in…' : 'Sign in';
    };
    const showError = (msg: string) => {
      error.textContent = msg;
      form.classList.toggle('has-error', !!msg);
    };

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (this.busy) return;
      const user = username.value.trim();
      const pass = password.value;
      if (!user || !pass) {
        showError('Enter your username and password.');
        (user ? password : username).focus();
        return;
      }
      showError('');
      setBusy(true);
      try {
        const r = await login(user, pass);
        storageSet('local', REMEMBER_KEY, remember.checked ? '1' : null);
        storageSet('local', LAST_USER_KEY, user);
        opts.onSignedIn({ token: r.token, user: r.user }, remember.checked);
      } catch (err) {
        setBusy(false);
        showError(describe(err));
        password.focus();
        password.select();
      }
    });

    this.root = h('div', { class: 'signin' }, form);
    parent.append(this.root);
    (username.value ? password : username).focus();
  }

  destroy(): void {
    this.root.remove();
  }
}

/** "15 minutes", "1 minute", "40 seconds". */
function duration(seconds: number): string {
  if (seconds < 60) return plural(Math.ceil(seconds), 'second');
  return plural(Math.ceil(seconds / 60), 'minute');
}

function describe(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  if (err.status === 0) return err.message;
  if (err.status === 401) return 'Incorrect username or password.';
  if (err.status === 429) {
    // The lockout also refuses the right password: say how long it really lasts.
    const wait = err.retryAfterSeconds;
    return wait ? `Too many failed attempts. Try again in ${duration(wait)}.` : 'Too many failed attempts. Try again later.';
  }
  if (err.status === 400) return err.message || 'Check your username and password.';
  if (err.status >= 500) return 'The server had a problem signing you in. Please try again.';
  return err.message;
}
