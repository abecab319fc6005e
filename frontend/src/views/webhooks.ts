/**
 * Admin: the organisation's webhooks (list, add with a secret shown once, pause and enable,
 * delete, each one's deliveries), the banner for webhooks the system disabled, and the
 * Admin link's mark for them.
 */
import { ALERT_KINDS, SEVERITIES, type Severity } from '../api/alerts';
import { allPages } from '../api/client';
import { webhooksApi, type CreatedWebhook, type Delivery, type Webhook } from '../api/webhooks';
import { FormErrors } from '../form-errors';
import { kindLabel } from '../lib/alerts';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import * as wh from '../lib/webhooks';
import { copySecret, errorText, h, notice, toast } from '../ui';

/** Sent on `document` with the webhooks the admin page just loaded, so that the Admin link's
 * mark follows what the page shows without asking the server again. */
const LOADED = 'nimbus:webhooks';
/** An organisation has at most 20 webhooks: one page of 100 holds them all. */
const LIST_LIMIT = 100;
const DELIVERY_PAGE = 25;
const COLUMNS = 5;

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function changeProblem(e: unknown, what: string): string {
  if (e instanceof ApiError && e.status === 412) return 'Someone else changed this webhook meanwhile; the list was reloaded, try again.';
  if (e instanceof ApiError && e.status === 404) return 'This webhook was deleted meanwhile; the list was reloaded.';
  return `${what}: ${errorText(e)}`;
}

/** Shows why a change failed: in `slot`, or, when the list must be read again (which redraws
 * the slot away), as a toast before `reload`. */
function showFailure(e: unknown, what: string, slot: HTMLElement, reload: () => void): void {
  const text = changeProblem(e, what);
  if (e instanceof ApiError && (e.status === 412 || e.status === 404)) {
    toast(text, 'error');
    reload();
  } else slot.textContent = text;
}

/** Pauses or (re-)enables `w` with `If-Match` on the version shown. */
async function setEnabled(w: Webhook, enabled: boolean): Promise<void> {
  await webhooksApi.update(w.id, w.version, { enabled });
  toast(enabled ? `Webhook ${w.url} enabled; its pending deliveries are tried again` : `Webhook ${w.url} paused`);
}

function deliveryTable(items: readonly Delivery[]): HTMLElement {
  const now = Date.now();
  return h('table', { class: 'table webhook-deliveries', 'data-testid': 'webhook-deliveries' },
    h('thead', {}, h('tr', {}, ...['Created', 'Event', 'Status', 'Attempts', 'Last attempt', 'Response', 'Last error', 'Payload'].map((t) => h('th', {}, t)))),
    h('tbody', {}, ...items.map((d) => h('tr', { 'data-delivery': d.id },
      h('td', { class: 'nowrap' }, fmt.dateTime(d.created_at)),
      h('td', {}, h('code', {}, d.event_type)),
      h('td', { class: `delivery-${d.status}` }, wh.deliveryStatusText(d, now)),
      h('td', {}, fmt.count(d.attempts)),
      h('td', { class: 'nowrap' }, d.last_attempt_at ? fmt.dateTime(d.last_attempt_at) : '—'),
      h('td', { class: 'nowrap' }, wh.responseText(d)),
      h('td', { class: 'webhook-error' }, d.last_error ?? '—'),
      h('td', {}, h('details', { class: 'webhook-payload' }, h('summary', {}, 'Show'), h('pre', {}, JSON.stringify(d.payload, null, 2))))))));
}

interface DeliveriesPanel {
  el: HTMLElement;
  loaded: boolean;
  load: () => void;
}

/** One webhook's deliveries, newest first, by status, a page at a time. */
function deliveriesPanel(hookId: string, url: string, alive: () => boolean): DeliveriesPanel {
  const status = h('select', { id: `dlv-status-${hookId}`, 'data-testid': 'delivery-status' },
    h('option', { value: '' }, 'All'), ...wh.DELIVERY_STATUSES.map((s) => h('option', { value: s }, capitalised(s))));
  const list = h('div', { 'aria-live': 'polite' });
  const more = h('div', {});
  let items: Delivery[] = [];
  let token = 0;

  const load = async (cursor?: string) => {
    const mine = cursor ? token : ++token;
    if (!cursor) {
      items = [];
      list.replaceChildren(notice('loading', 'Loading deliveries…'));
      more.replaceChildren();
    }
    try {
      const page = await webhooksApi.deliveries(hookId, { status: wh.parseDeliveryStatus(status.value), limit: DELIVERY_PAGE, cursor });
      if (!alive() || mine !== token) return;
      panel.loaded = true;
      items = wh.mergeDeliveries(items, page.items);
      list.replaceChildren(items.length > 0 ? deliveryTable(items)
        : notice('empty', status.value ? `No ${status.value} deliveries.` : 'No deliveries yet: one is queued for each change of an alert this webhook matches.'));
      more.replaceChildren(page.next_cursor
        ? h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'deliveries-more', onclick: (e: Event) => {
          (e.currentTarget as HTMLButtonElement).disabled = true;
          void load(page.next_cursor!);
        } }, 'Load more')
        : '');
    } catch (e) {
      if (!alive() || mine !== token) return;
      const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => void load(cursor) }, 'Try again');
      if (cursor) more.replaceChildren(notice('error', `Could not load more deliveries: ${errorText(e)}. `, retry));
      else list.replaceChildren(notice('error', `Could not load deliveries: ${errorText(e)}. `, retry));
    }
  };
  status.addEventListener('change', () => void load());

  const panel: DeliveriesPanel = {
    el: h('div', { class: 'webhook-deliveries-panel', role: 'region', 'aria-label': `Deliveries to ${url}` },
      h('div', { class: 'row' },
        h('label', { for: status.id }, 'Status'), status,
        h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => void load() }, 'Refresh'),
        h('span', { class: 'hint' }, 'Newest first.')),
      list, more),
    loaded: false,
    load: () => void load(),
  };
  return panel;
}

function stateCell(w: Webhook): HTMLElement {
  const state = wh.webhookState(w);
  const detail = wh.stateDetail(w);
  return h('td', { 'data-state': state },
    h('span', { class: `webhook-state webhook-state-${state}` }, wh.STATE_LABELS[state]),
    detail ? h('div', { class: 'small webhook-state-detail' }, detail) : null);
}

function secretBox(created: CreatedWebhook, close: () => void): HTMLElement {
  const code = h('code', { class: 'secret', 'data-testid': 'webhook-secret' }, created.secret);
  const copy = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'copy-webhook-secret',
    onclick: () => copySecret(code, created.secret, 'Signing secret') }, 'Copy secret');
  return h('div', { class: 'notice notice-info', 'data-testid': 'webhook-secret-box' },
    h('p', {}, h('strong', {}, `Webhook ${created.url} was added. Copy its signing secret now: it will not be shown again.`)),
    code, ' ', copy, ' ',
    h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: close }, 'Done'),
    h('p', { class: 'hint' }, 'The endpoint checks the webhook-signature header of each delivery with it (Standard Webhooks). If it is lost, delete the webhook and add it again.'));
}

function createForm(onCreated: (created: CreatedWebhook) => void): HTMLFormElement {
  const form = h('form', { class: 'form-grid', novalidate: true, 'aria-label': 'Add a webhook' });
  const errs = new FormErrors(form, ['url', 'description', 'kinds', 'min_severity']);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add webhook');
  form.append(
    h('label', { for: 'wh-url' }, 'URL'),
    h('div', {}, h('input', { id: 'wh-url', name: 'url', type: 'url', required: true, placeholder: 'https://ops.example.com/hooks/nimbus', autocomplete: 'off', maxlength: 2000 }),
      h('small', { class: 'hint' }, ' https:// (or http://) on a public address'), errs.slot('url')),
    h('label', { for: 'wh-description' }, 'Description'),
    h('div', {}, h('input', { id: 'wh-description', name: 'description', maxlength: 200 }), h('small', { class: 'hint' }, ' optional'), errs.slot('description')),
    h('span', { id: 'wh-kinds-label', class: 'form-grid-label' }, 'Alert kinds'),
    h('div', { role: 'group', 'aria-labelledby': 'wh-kinds-label' },
      h('div', { class: 'webhook-kinds' }, ...ALERT_KINDS.map((k) => h('label', { class: 'day' }, h('input', { type: 'checkbox', name: 'kinds', value: k }), kindLabel(k)))),
      h('small', { class: 'hint' }, 'None checked: every kind, also kinds added later.'), errs.slot('kinds')),
    h('label', { for: 'wh-severity' }, 'Minimum severity'),
    h('div', {}, h('select', { id: 'wh-severity', name: 'min_severity' },
      ...SEVERITIES.map((s) => h('option', { value: s, selected: s === 'warning' }, `${capitalised(s)} (${wh.severityScope(s).toLowerCase()})`))), errs.slot('min_severity')),
    errs.general,
    h('div', {}, submit),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errs.clear();
    const d = new FormData(form);
    const description = String(d.get('description') ?? '').trim();
    submit.disabled = true;
    try {
      const created = await webhooksApi.create({
        url: String(d.get('url') ?? '').trim(),
        description: description || null,
        kinds: wh.kindsToSend(d.getAll('kinds').map(String)),
        min_severity: String(d.get('min_severity')) as Severity,
      });
      form.reset();
      onCreated(created);
    } catch (err) {
      errs.show(err, 'Webhook not added: ');
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/**
 * The webhooks card and, for the top of the admin page, a banner per webhook the system
 * disabled. Both show one list, read from the server when mounted (never a cached one) and
 * again after every change.
 */
export function webhooksPanel(): { banner: HTMLElement; section: HTMLElement; cleanup: () => void } {
  let alive = true;
  let loading = 0;
  const isAlive = () => alive;
  const banner = h('div', { 'data-testid': 'webhook-banners' });
  const box = h('div', { class: 'table-scroll' }, notice('loading', 'Loading webhooks…'));
  const secret = h('div', { 'aria-live': 'polite' });
  /** Kept across reloads, so that an open deliveries list keeps its filter and pages. */
  const panels = new Map<string, DeliveriesPanel>();
  const expanded = new Set<string>();

  const load = async () => {
    const token = ++loading;
    try {
      const hooks = await allPages<Webhook>((cursor) => webhooksApi.list({ limit: LIST_LIMIT, cursor }));
      if (!alive || token !== loading) return;
      show(hooks);
      document.dispatchEvent(new CustomEvent<Webhook[]>(LOADED, { detail: hooks }));
    } catch (e) {
      if (!alive || token !== loading) return;
      box.replaceChildren(notice('error', `Could not load webhooks: ${errorText(e)}. `,
        h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => void load() }, 'Try again')));
    }
  };

  const bannerFor = (w: Webhook, now: number): HTMLElement => {
    const error = h('span', { class: 'field-error', role: 'alert' });
    const button = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'webhook-reenable', 'aria-label': `Re-enable webhook ${w.url}` }, 'Re-enable');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await setEnabled(w, true);
        void load();
      } catch (e) {
        showFailure(e, 'Not re-enabled', error, () => void load());
      } finally {
        button.disabled = false;
      }
    });
    return h('div', { class: 'notice notice-error webhook-banner', 'data-webhook': w.id },
      h('span', {}, wh.disabledBannerText(w, now)), button, error);
  };

  const rows = (w: Webhook): HTMLElement[] => {
    const rowError = h('span', { class: 'field-error', role: 'alert' });
    const fail = (e: unknown, what: string) => showFailure(e, what, rowError, () => void load());
    const action = wh.toggleAction(w);
    const toggle = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'webhook-toggle', 'aria-label': `${action.label} webhook ${w.url}` }, action.label);
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        await setEnabled(w, action.enabled);
        void load();
      } catch (e) {
        fail(e, action.enabled ? 'Not enabled' : 'Not paused');
      } finally {
        toggle.disabled = false;
      }
    });

    const panel = panels.get(w.id) ?? deliveriesPanel(w.id, w.url, isAlive);
    panels.set(w.id, panel);
    const panelRow = h('tr', { id: `dlv-${w.id}`, class: 'webhook-deliveries-row', hidden: !expanded.has(w.id) }, h('td', { colspan: COLUMNS }, panel.el));
    const open = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'webhook-deliveries-toggle',
      'aria-expanded': String(expanded.has(w.id)), 'aria-controls': panelRow.id, 'aria-label': `Deliveries to ${w.url}` }, 'Deliveries');
    open.addEventListener('click', () => {
      const opening = !expanded.has(w.id);
      if (opening) expanded.add(w.id);
      else expanded.delete(w.id);
      panelRow.hidden = !opening;
      open.setAttribute('aria-expanded', String(opening));
      if (opening && !panel.loaded) panel.load();
    });

    const del = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'webhook-delete', 'aria-label': `Delete webhook ${w.url}` }, 'Delete');
    del.addEventListener('click', async () => {
      if (!window.confirm(`Delete the webhook ${w.url}? Nothing more is sent to it, and its deliveries are deleted too.`)) return;
      try {
        await webhooksApi.delete(w.id);
        toast(`Webhook ${w.url} deleted`);
        void load();
      } catch (e) {
        fail(e, 'Not deleted');
      }
    });

    return [
      h('tr', { 'data-webhook': w.id },
        h('td', {}, h('code', { class: 'webhook-url' }, w.url), w.description ? h('div', { class: 'hint' }, w.description) : null),
        h('td', {}, wh.kindsSummary(w.kinds)),
        h('td', {}, wh.severityScope(w.min_severity)),
        stateCell(w),
        h('td', {}, h('div', { class: 'actions' }, toggle, open, del), rowError)),
      panelRow,
    ];
  };

  const show = (hooks: readonly Webhook[]) => {
    const now = Date.now();
    banner.replaceChildren(...wh.systemDisabled(hooks).map((w) => bannerFor(w, now)));
    const ids = new Set(hooks.map((w) => w.id));
    for (const id of panels.keys()) if (!ids.has(id)) panels.delete(id);
    for (const id of expanded) if (!ids.has(id)) expanded.delete(id);
    box.replaceChildren(hooks.length === 0
      ? notice('empty', 'No webhooks yet. Add one below to have alert changes sent to a URL of yours.')
      : h('table', { class: 'table', 'data-testid': 'webhooks' },
        h('thead', {}, h('tr', {}, h('th', {}, 'URL'), h('th', {}, 'Alert kinds'), h('th', {}, 'Severities'), h('th', {}, 'State'), h('th', {}, 'Actions'))),
        h('tbody', {}, ...hooks.flatMap(rows))));
    for (const id of expanded) panels.get(id)?.load();
  };

  const form = createForm((created) => {
    const close = () => secret.replaceChildren();
    secret.replaceChildren(secretBox(created, close));
    secret.querySelector<HTMLButtonElement>('[data-testid=copy-webhook-secret]')?.focus();
    void load();
  });

  void load();
  return {
    banner,
    section: h('section', { class: 'card', 'aria-labelledby': 'webhooks-title' },
      h('h2', { id: 'webhooks-title' }, 'Webhooks'),
      h('p', { class: 'hint' }, 'Each change of a matching alert (raised, updated, acknowledged, resolved) is sent to the URL as a signed JSON POST. '
        + 'Failed deliveries are retried with backoff; a webhook whose every attempt fails for the whole retry window is disabled by the system.'),
      box, h('h3', {}, 'New webhook'), secret, form),
    cleanup: () => {
      alive = false;
    },
  };
}

/**
 * Calls `show` with how many webhooks the system disabled: after each navigation (one
 * `GET /webhooks`) and whenever the admin page loads the list. Errors leave the last count:
 * the mark is a hint, and the admin page says when the list cannot be read. Returns a
 * function that stops watching.
 */
export function watchDisabledWebhooks(show: (count: number) => void): () => void {
  let seq = 0;
  const fetchCount = async () => {
    const mine = ++seq;
    try {
      const page = await webhooksApi.list({ limit: LIST_LIMIT });
      if (mine === seq) show(wh.systemDisabled(page.items).length);
    } catch {
      // See above: the last count stays.
    }
  };
  const onLoaded = (e: Event) => {
    seq++;
    show(wh.systemDisabled((e as CustomEvent<Webhook[]>).detail).length);
  };
  document.addEventListener('nimbus:route', fetchCount);
  document.addEventListener(LOADED, onLoaded);
  return () => {
    seq++;
    document.removeEventListener('nimbus:route', fetchCount);
    document.removeEventListener(LOADED, onLoaded);
  };
}
