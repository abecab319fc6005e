/** Admin: users (create, change role, reset password, delete), drone API keys, webhooks and alert thresholds. */
import { allPages, api, type ApiKey, type Role, type User } from '../api/client';
import { FormErrors } from '../form-errors';
import { fleet, type DroneState } from '../fleet-store';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { session } from '../session';
import { copySecret, errorText, h, notice, toast } from '../ui';
import { webhooksPanel } from './webhooks';
import { thresholdsSection } from './thresholds';

const ROLES = ['admin', 'operator', 'viewer'] as const;
/** The key section's drone list shows at most this many matches; a filter narrows it. */
const MAX_DRONE_OPTIONS = 200;

function userProblem(e: unknown, what: string): string {
  if (e instanceof ApiError && e.code === 'last_admin') return 'The organisation needs at least one admin.';
  if (e instanceof ApiError && e.status === 412) return 'Someone else changed this user meanwhile; the list was reloaded, try again.';
  return `${what}: ${errorText(e)}`;
}

function userRow(u: User, reload: () => void): HTMLElement[] {
  const me = u.id === session.me?.user.id;
  const rowError = h('span', { class: 'field-error', role: 'alert' });
  const fail = (e: unknown, what: string) => {
    rowError.textContent = userProblem(e, what);
    if (e instanceof ApiError && e.status === 412) reload();
  };
  const role = h('select', { 'aria-label': `Role of ${u.email}`, 'data-testid': 'user-role' }, ...ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)));
  role.addEventListener('change', async () => {
    try {
      await api.updateUser(u.id, u.version, { role: role.value as Role });
      toast(`${u.email} is now ${role.value}; their sessions were ended`);
      reload();
    } catch (e) {
      role.value = u.role;
      fail(e, 'Role not changed');
    }
  });
  const passwordRow = h('tr', { class: 'user-password', hidden: true });
  const resetBtn = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'reset-password', onclick: () => { passwordRow.hidden = !passwordRow.hidden; passwordRow.querySelector('input')?.focus(); } }, 'Reset password');
  const pwForm = h('form', { class: 'row', novalidate: true, 'aria-label': `New password for ${u.email}` });
  const pwErrors = new FormErrors(pwForm, ['password']);
  pwForm.append(
    h('label', { for: `pw-${u.id}` }, `New password for ${u.email}`),
    h('input', { id: `pw-${u.id}`, name: 'password', type: 'password', autocomplete: 'new-password', minlength: 10 }),
    h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, 'Set password'),
    h('small', { class: 'hint' }, '10–128 characters; ends their sessions.'),
    pwErrors.slot('password'), pwErrors.general,
  );
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = (pwForm.querySelector('input') as HTMLInputElement).value;
    try {
      await api.updateUser(u.id, u.version, { password });
      toast(`Password of ${u.email} changed; their sessions were ended`);
      reload();
    } catch (err) {
      pwErrors.show(err, 'Password not changed: ');
    }
  });
  passwordRow.append(h('td', { colspan: 5 }, pwForm));
  const del = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'delete-user', onclick: async () => {
    if (!window.confirm(`Delete the user ${u.email}? Their sessions end at once.`)) return;
    try {
      await api.deleteUser(u.id);
      toast(`User ${u.email} deleted`);
      reload();
    } catch (e) {
      fail(e, 'Not deleted');
    }
  } }, 'Delete');
  return [
    h('tr', { 'data-user': u.email },
      h('td', {}, u.name),
      h('td', {}, u.email),
      h('td', {}, me ? h('span', { title: 'You cannot change your own role' }, `${u.role} (you)`) : role),
      h('td', {}, fmt.dateTime(u.created_at)),
      h('td', { class: 'actions' }, resetBtn, me ? h('span', { class: 'hint' }, 'you cannot delete yourself') : del, rowError)),
    passwordRow,
  ];
}

function usersSection(): HTMLElement {
  const box = h('div', { class: 'table-scroll' }, notice('loading', 'Loading users…'));
  const load = async () => {
    try {
      const users = await allPages<User>((cursor) => api.users({ limit: 500, cursor }));
      box.replaceChildren(h('table', { class: 'table', 'data-testid': 'users' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Email'), h('th', {}, 'Role'), h('th', {}, 'Created'), h('th', {}, 'Actions'))),
        h('tbody', {}, ...users.flatMap((u) => userRow(u, () => void load())))));
    } catch (e) {
      box.replaceChildren(notice('error', `Could not load users: ${errorText(e)}`));
    }
  };
  const form = h('form', { class: 'form-grid', novalidate: true, 'aria-label': 'Create a user' });
  const errs = new FormErrors(form, ['name', 'email', 'role', 'password']);
  form.append(
    h('label', { for: 'u-name' }, 'Name'), h('div', {}, h('input', { id: 'u-name', name: 'name' }), h('small', { class: 'hint' }, ' optional'), errs.slot('name')),
    h('label', { for: 'u-email' }, 'Email'), h('div', {}, h('input', { id: 'u-email', name: 'email', type: 'email', required: true }), errs.slot('email')),
    h('label', { for: 'u-role' }, 'Role'), h('div', {}, h('select', { id: 'u-role', name: 'role' }, ...ROLES.map((r) => h('option', { value: r, selected: r === 'operator' }, r))), errs.slot('role')),
    h('label', { for: 'u-password' }, 'Password'), h('div', {}, h('input', { id: 'u-password', name: 'password', type: 'password', autocomplete: 'new-password', minlength: 10 }), h('small', { class: 'hint' }, ' 10–128 characters'), errs.slot('password')),
    errs.general,
    h('div', {}, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create user')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errs.clear();
    const d = new FormData(form);
    const name = String(d.get('name') ?? '').trim();
    try {
      const u = await api.createUser({ name: name || null, email: String(d.get('email')).trim(), role: String(d.get('role')) as Role, password: String(d.get('password')) });
      toast(`User ${u.email} created`);
      form.reset();
      void load();
    } catch (err) {
      errs.show(err, 'User not created: ');
    }
  });
  void load();
  return h('section', { class: 'card', 'aria-labelledby': 'users-title' }, h('h2', { id: 'users-title' }, 'Users and roles'), box, h('h3', {}, 'New user'), form);
}

function keysSection(): { el: HTMLElement; cleanup: () => void } {
  const filter = h('input', { id: 'key-filter', type: 'search', placeholder: 'Filter drones', 'aria-label': 'Filter the drone list' });
  const select = h('select', { id: 'key-drone', 'aria-label': 'Drone' });
  const box = h('div', {});
  const secret = h('div', { 'aria-live': 'polite' });
  const keyName = h('input', { id: 'key-name', placeholder: 'e.g. autopilot', 'aria-label': 'Key name' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key');
  let shownFor: string | null = null;

  // The fleet store may still be loading (the page opened directly): fill as drones arrive.
  const fillDrones = () => {
    const q = filter.value.trim().toLowerCase();
    const all = fleet.list().filter((s): s is DroneState & { drone: NonNullable<DroneState['drone']> } => !!s.drone);
    const shown = all.filter((s) => !q || s.search.includes(q)).sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0)).slice(0, MAX_DRONE_OPTIONS);
    const keep = select.value;
    select.replaceChildren(...shown.map((s) => h('option', { value: s.id, selected: s.id === keep }, `${s.drone.name} (${s.drone.serial})`)));
    filter.hidden = all.length <= 20 && !q;
    createBtn.disabled = !select.value;
    if (select.value !== shownFor) void load();
  };
  const load = async () => {
    shownFor = select.value;
    if (!select.value) {
      box.replaceChildren(!fleet.loaded
        ? notice('loading', 'Loading drones…')
        : fleet.drones.size === 0 ? notice('empty', 'No drones yet — register one first (Fleet → Register drone); API keys belong to a drone.')
          : notice('empty', 'No drone matches the filter.'));
      return;
    }
    const droneId = select.value;
    box.replaceChildren(notice('loading', 'Loading keys…'));
    try {
      const keys = await api.apiKeys(droneId);
      if (droneId !== select.value) return;
      box.replaceChildren(keys.items.length === 0 ? notice('empty', 'This drone has no API keys. Create one below for its autopilot or onboard computer.') :
        h('table', { class: 'table', 'data-testid': 'api-keys' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Prefix'), h('th', {}, 'Created'), h('th', {}, ''))),
          h('tbody', {}, ...keys.items.map((k: ApiKey) => h('tr', {},
            h('td', {}, k.name), h('td', {}, h('code', {}, k.prefix)), h('td', {}, fmt.dateTime(k.created_at)),
            h('td', {}, h('button', { type: 'button', class: 'btn btn-small btn-danger', onclick: async () => {
              if (!window.confirm(`Revoke the key "${k.name}"? Devices using it stop working at once.`)) return;
              try {
                await api.revokeApiKey(droneId, k.id);
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
  const create = h('form', { class: 'row', 'aria-label': 'Create an API key' }, keyName, createBtn);
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!select.value) return;
    try {
      const k = await api.createApiKey(select.value, keyName.value.trim() || 'default');
      const code = h('code', { class: 'secret', 'data-testid': 'api-key-secret' }, k.secret);
      secret.replaceChildren(h('div', { class: 'notice notice-info' },
        h('p', {}, h('strong', {}, 'Copy this key now: it is shown only once.')), code, ' ',
        h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: () => copySecret(code, k.secret, 'Key') }, 'Copy'),
        ' ', h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: () => secret.replaceChildren() }, 'Done')));
      keyName.value = '';
      void load();
    } catch (err) {
      toast(`Key not created: ${errorText(err)}`, 'error');
    }
  });
  select.addEventListener('change', () => { secret.replaceChildren(); createBtn.disabled = !select.value; void load(); });
  filter.addEventListener('input', fillDrones);
  const unsubscribe = fleet.subscribe((u) => { if (u.listChanged) fillDrones(); });
  fillDrones();
  return {
    el: h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'Drone API keys'),
      h('div', { class: 'row' }, h('label', { for: 'key-drone' }, 'Drone'), filter, select), secret, box, h('h3', {}, 'New key'), create),
    cleanup: () => { unsubscribe(); },
  };
}

export function adminView(root: HTMLElement): (() => void) | void {
  if (!session.can('admin')) {
    root.append(notice('error', 'Only admins can manage users, keys and webhooks. ', h('a', { href: '/', 'data-link': true }, 'Back to the fleet')));
    return;
  }
  const keys = keysSection();
  const webhooks = webhooksPanel();
  root.append(h('div', { class: 'page' }, h('h1', {}, 'Admin'), webhooks.banner, h('div', { class: 'grid-2' }, usersSection(), keys.el), webhooks.section, thresholdsSection()));
  return () => {
    keys.cleanup();
    webhooks.cleanup();
  };
}
