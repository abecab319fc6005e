import { api } from '../api/client';
import { ApiError } from '../lib/problem';
import { startSession } from '../main';
import { navigate } from '../router';
import { session } from '../session';
import { errorText, h } from '../ui';

export function loginView(root: HTMLElement, _p: Record<string, string>, query: URLSearchParams): void {
  const message = query.get('msg');
  const error = h('p', { class: 'field-error', role: 'alert', id: 'login-error' });
  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', { class: 'login-card', 'aria-labelledby': 'login-title', novalidate: true },
    h('h1', { id: 'login-title' }, 'Sign in to NimbusFleet'),
    message ? h('p', { class: 'notice notice-info', role: 'status', 'data-testid': 'login-message' }, message) : null,
    h('label', { for: 'email' }, 'Email'), email,
    h('label', { for: 'password' }, 'Password'), password,
    error,
    submit,
    h('p', { class: 'hint' }, 'Running with --demo? The demo logins (admin, operator, viewer) are printed at start and listed in the README.'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!email.value || !password.value) {
      error.textContent = 'Enter your email and password.';
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const t = await api.login(email.value.trim(), password.value);
      session.token = t.access_token;
      if (!(await startSession())) throw new Error('Signed in, but your profile could not be loaded. Try again.');
      navigate('/', true);
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401
        ? 'Wrong email or password. Check both and try again.'
        : errorText(err);
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  root.append(h('div', { class: 'login-page' }, form));
  email.focus();
}
