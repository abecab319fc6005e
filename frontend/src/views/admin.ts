/** Admin: users and roles, and drone API keys. */
import { allPages, api, type ApiKey, type User } from '../api/client';
import { fleet } from '../fleet-store';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { session } from '../session';
import { errorText, h, notice, toast } from '../ui';

const ROLES = ['admin', 'operator', 'viewer'] as const;

function usersSection(): HTMLElement {
  const box = h('div', {}, notice('loading', 'Loading users…'));
  const load = async () => {
    try {
      const users = await allPages<User>((cursor) => api.users({ limit: 500, cursor }));
      box.replaceChildren(h('table', { class: 'table', 'data-testid': 'users' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Email'), h('th', {}, 'Role'), h('th', {}, 'Created'))),
        h('tbody', {}, ...users.map((u) => {
          const select = h('select', { 'aria-label': `Role of ${u.email}` }, ...ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)));
          select.addEventListener('change', async () => {
            try {
              await api.updateUser(u.id, u.version, { role: select.value });
              toast(`${u.email} is now ${select.value}; their sessions were ended`);
              void load();
            } catch (e) {
              select.value = u.role;
              toast(e instanceof ApiError && e.code === 'last_admin' ? 'The organisation needs at least one admin.' : `Role not changed: ${errorText(e)}`, 'error');
            }
          });
          return h('tr', {}, h('td', {}, u.name), h('td', {}, u.email), h('td', {}, u.id === session.me?.user.id ? `${u.role} (you)` : select), h('td', {}, fmt.dateTime(u.created_at)));
        }))));
    } catch (e) {
      box.replaceChildren(notice('error', `Could not load users: ${errorText(e)}`));
    }
  };
  const err = (f: string) => h('span', { class: 'field-error', 'data-field': f });
  const errs = { email: err('email'), name: err('name'), role: err('role'), password: err('password'), '': err('') };
  const form = h('form', { class: 'form-grid', novalidate: true, 'aria-label': 'Create a user' },
    h('label', { for: 'u-name' }, 'Name'), h('div', {}, h('input', { id: 'u-name', name: 'name', required: true }), errs.name),
    h('label', { for: 'u-email' }, 'Email'), h('div', {}, h('input', { id: 'u-email', name: 'email', type: 'email', required: true }), errs.email),
    h('label', { for: 'u-role' }, 'Role'), h('div', {}, h('select', { id: 'u-role', name: 'role' }, ...ROLES.map((r) => h('option', { value: r, selected: r === 'operator' }, r))), errs.role),
    h('label', { for: 'u-password' }, 'Password'), h('div', {}, h('input', { id: 'u-password', name: 'password', type: 'password', autocomplete: 'new-password', minlength: 10 }), h('small', { class: 'hint' }, ' 10–128 characters'), errs.password),
    errs[''],
    h('div', {}, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create user')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of Object.values(errs)) el.textContent = '';
    const d = new FormData(form);
    try {
      const u = await api.createUser({ name: String(d.get('name')), email: String(d.get('email')), role: String(d.get('role')), password: String(d.get('password')) });
      toast(`User ${u.email} created`);
      form.reset();
      void load();
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        for (const f of err.fieldErrors) (errs[f.field as keyof typeof errs] ?? errs['']).textContent = f.message;
      } else errs[''].textContent = errorText(err);
    }
  });
  void load();
  return h('section', { class: 'card', 'aria-labelledby': 'users-title' }, h('h2', { id: 'users-title' }, 'Users and roles'), box, h('h3', {}, 'New user'), form);
}

function keysSection(): HTMLElement {
  const drones = fleet.list().filter((s) => s.drone).sort((a, b) => a.drone!.name.localeCompare(b.drone!.name));
  const select = h('select', { id: 'key-drone', 'aria-label': 'Drone' }, ...drones.map((s) => h('option', { value: s.id }, `${s.drone!.name} (${s.drone!.serial})`)));
  const box = h('div', {});
  const secret = h('div', { 'aria-live': 'polite' });
  const keyName = h('input', { id: 'key-name', placeholder: 'e.g. autopilot', 'aria-label': 'Key name' });
  const load = async () => {
    if (!select.value) {
      box.replaceChildren(notice('empty', 'No drones yet — register one first; API keys belong to a drone.'));
      return;
    }
    box.replaceChildren(notice('loading', 'Loading keys…'));
    try {
      const keys = await api.apiKeys(select.value);
      box.replaceChildren(keys.items.length === 0 ? notice('empty', 'This drone has no API keys. Create one below for its autopilot or onboard computer.') :
        h('table', { class: 'table', 'data-testid': 'api-keys' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Prefix'), h('th', {}, 'Created'), h('th', {}, ''))),
          h('tbody', {}, ...keys.items.map((k: ApiKey) => h('tr', {},
            h('td', {}, k.name), h('td', {}, h('code', {}, k.prefix)), h('td', {}, fmt.dateTime(k.created_at)),
            h('td', {}, h('button', { type: 'button', class: 'btn btn-small btn-danger', onclick: async () => {
              if (!window.confirm(`Revoke the key "${k.name}"? Devices using it stop working at once.`)) return;
              try {
                await api.revokeApiKey(select.value, k.id);
                toast('Key revoked');
                void load();
              } catch (e) {
                toast(`Not revoked: ${errorText(e)}`, 'error');
              }
            } }, 'Revoke')))))));
    } catch (e) {
      box.replaceChildren(notice('error', `Could not load keys: ${errorText(e)}`));
    }
  };
  const create = h('form', { class: 'row', 'aria-label': 'Create an API key' }, keyName, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key'));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!select.value) return;
    try {
      const k = await api.createApiKey(select.value, keyName.value.trim() || 'default');
      const code = h('code', { class: 'secret', 'data-testid': 'api-key-secret' }, k.secret);
      secret.replaceChildren(h('div', { class: 'notice notice-info' },
        h('p', {}, h('strong', {}, 'Copy this key now: it is shown only once.')), code, ' ',
        h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: async () => {
          try {
            await navigator.clipboard.writeText(k.secret);
            toast('Key copied');
          } catch {
            const r = document.createRange();
            r.selectNodeContents(code);
            getSelection()?.removeAllRanges();
            getSelection()?.addRange(r);
            toast('Copying is blocked here: the key is selected, press Ctrl+C', 'error');
          }
        } }, 'Copy'),
        ' ', h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: () => secret.replaceChildren() }, 'Done')));
      keyName.value = '';
      void load();
    } catch (err) {
      toast(`Key not created: ${errorText(err)}`, 'error');
    }
  });
  select.addEventListener('change', () => { secret.replaceChildren(); void load(); });
  void load();
  return h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'Drone API keys'),
    h('label', { for: 'key-drone' }, 'Drone '), select, secret, box, h('h3', {}, 'New key'), create);
}

export function adminView(root: HTMLElement): void {
  if (!session.can('admin')) {
    root.append(notice('error', 'Only admins can manage users and keys. ', h('a', { href: '/', 'data-link': true }, 'Back to the fleet')));
    return;
  }
  root.append(h('div', { class: 'page' }, h('h1', {}, 'Admin'), h('div', { class: 'grid-2' }, usersSection(), keysSection())));
}
