/**
 * Alerts as a table, newest first, kept current in place: a changed alert replaces only its
 * row, a new one is inserted where it belongs (see `mergeAlert`), so a live event costs one
 * row, not a refetch. Operators and admins acknowledge and resolve with an optional note in
 * a form under the row; the API's problem detail shows there when it refuses. Used by the
 * alerts screen and the drone page; the detail screen uses the same cells and form.
 */
import { alerts } from '../alert-store';
import { alertsApi, NOTE_MAX, type Alert, type AlertAction, type Severity } from '../api/alerts';
import { fleet } from '../fleet-store';
import { FormErrors } from '../form-errors';
import { appendPage, detailsText, kindLabel, mergeAlert, type AlertFilter } from '../lib/alerts';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { session } from '../session';
import { h, notice, toast } from '../ui';

const ACTION_LABEL: Record<AlertAction, string> = { acknowledge: 'Acknowledge', resolve: 'Resolve' };
const ACTION_DONE: Record<AlertAction, 'acknowledged' | 'resolved'> = { acknowledge: 'acknowledged', resolve: 'resolved' };

export function severityChip(s: Severity): HTMLElement {
  return h('span', { class: `severity severity-${s}`, 'data-testid': 'alert-severity' }, s);
}

export function droneName(id: string): string {
  return fleet.drones.get(id)?.drone?.name ?? `${id.slice(0, 8)}…`;
}

/** `you`, `the system`, or the start of a user id (the dashboard has no user names for operators). */
function who(by: string | null): string {
  if (!by) return 'someone';
  if (by === 'system') return 'the system';
  return by === session.me?.user.id ? 'you' : `user ${by.slice(0, 8)}…`;
}

/** The state with who acted and their notes. */
export function stateCell(a: Alert): HTMLElement {
  return h('div', { class: 'alert-state-cell' },
    h('span', { class: `state alert-state-${a.state}`, 'data-testid': 'alert-state' }, a.state),
    a.acknowledged_at ? h('div', { class: 'muted small' }, `acknowledged by ${who(a.acknowledged_by)}, ${fmt.dateTime(a.acknowledged_at)}`) : null,
    a.acknowledge_note ? h('div', { class: 'alert-note', 'data-testid': 'alert-ack-note' }, `“${a.acknowledge_note}”`) : null,
    a.resolved_at ? h('div', { class: 'muted small' }, `resolved by ${who(a.resolved_by)}, ${fmt.dateTime(a.resolved_at)}`) : null,
    a.resolve_note ? h('div', { class: 'alert-note', 'data-testid': 'alert-resolve-note' }, `“${a.resolve_note}”`) : null);
}

/** The actions this user may take on the alert now. */
export function actionsFor(a: Alert): AlertAction[] {
  if (!session.can('operator') || a.state === 'resolved') return [];
  return a.state === 'open' ? ['acknowledge', 'resolve'] : ['resolve'];
}

/**
 * The optional note and the confirmation of an action. `done` gets the changed alert; on a
 * refusal the problem's detail stays in the form, and a 409 (the alert changed meanwhile,
 * e.g. resolved by the system) also fetches the alert again so that its row tells why.
 */
export function actionForm(a: Alert, action: AlertAction, done: (alert: Alert) => void, close: () => void): HTMLFormElement {
  const form = h('form', { class: 'reject-form alert-action-form', novalidate: true, 'aria-label': `${ACTION_LABEL[action]} the alert`, 'data-testid': 'alert-action-form', 'data-action': action });
  const errors = new FormErrors(form, ['note']);
  const note = h('textarea', { id: `note-${action}-${a.id}`, name: 'note', rows: 2, maxlength: NOTE_MAX, 'data-testid': 'alert-note',
    placeholder: action === 'acknowledge' ? 'e.g. pilot called, returning to the corridor' : 'e.g. drone landed, fence area cleared' });
  const submit = h('button', { type: 'submit', class: 'btn btn-small btn-primary', 'data-testid': 'confirm-alert-action' }, ACTION_LABEL[action]);
  form.append(
    h('label', { for: note.id }, `Note (optional, kept with the alert)`),
    note,
    h('div', { 'data-testid': 'alert-action-error' }, errors.slot('note'), errors.general),
    h('div', { class: 'row' }, submit, h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: close }, 'Cancel')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const next = await alertsApi.act(a.id, action, note.value.trim() || undefined);
      alerts.applyLocal(next, ACTION_DONE[action]);
      toast(`Alert ${ACTION_DONE[action]}`);
      done(next);
    } catch (err) {
      errors.show(err, `Not ${ACTION_DONE[action]}: `);
      submit.disabled = false;
      if (err instanceof ApiError && err.status === 409) {
        alertsApi.get(a.id).then((fresh) => alerts.applyLocal(fresh, 'updated'), () => undefined);
      }
    }
  });
  requestAnimationFrame(() => note.focus());
  return form;
}

export interface AlertTableOptions {
  /** A drone column (not on the drone's own page). */
  showDrone: boolean;
  filter: AlertFilter;
  /** Shown when there is no alert. */
  empty: string;
}

export class AlertTable {
  readonly el: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly table: HTMLElement;
  private readonly emptyEl: HTMLElement;
  private items: Alert[] = [];
  private complete = true;
  private readonly rows = new Map<string, HTMLTableRowElement>();

  constructor(private readonly opts: AlertTableOptions) {
    this.tbody = h('tbody', {});
    const heads = ['Severity', 'Kind', opts.showDrone ? 'Drone' : null, 'Details', 'First seen', 'Last seen', 'Count', 'State', 'Actions'];
    this.table = h('div', { class: 'table-scroll' }, h('table', { class: 'table alert-table', 'data-testid': 'alert-table' },
      h('thead', {}, h('tr', {}, ...heads.map((t) => (t ? h('th', { scope: 'col' }, t) : null)))), this.tbody));
    this.emptyEl = h('div', {});
    this.el = h('div', {}, this.emptyEl, this.table);
    this.showEmpty();
  }

  get size(): number {
    return this.items.length;
  }

  /** New filters: rows that arrive live are tested against these (load the list again). */
  setFilter(f: AlertFilter): void {
    this.opts.filter = f;
  }

  setEmpty(text: string): void {
    this.opts.empty = text;
  }

  /** Shows `items` (the first page); `complete` when there are no more pages. */
  set(items: readonly Alert[], complete: boolean): void {
    this.items = appendPage([], items);
    this.complete = complete;
    this.rows.clear();
    this.tbody.replaceChildren(...this.items.map((a) => this.row(a)));
    this.showEmpty();
  }

  /** Adds the next page. */
  append(page: readonly Alert[], complete: boolean): void {
    const before = new Set(this.items.map((a) => a.id));
    this.items = appendPage(this.items, page);
    this.complete = complete;
    for (const a of page) {
      if (before.has(a.id)) this.replaceRow(this.items.find((x) => x.id === a.id)!);
      else this.tbody.append(this.row(a));
    }
    this.showEmpty();
  }

  /** Applies a changed alert (live, or this user's action): its row only. */
  apply(alert: Alert, highlight = true): void {
    const r = mergeAlert(this.items, alert, this.opts.filter, this.complete);
    if (r.op === 'none') return;
    this.items = r.items;
    if (r.op === 'replaced') {
      this.replaceRow(alert);
      return;
    }
    const row = this.row(alert);
    if (highlight) row.classList.add('alert-new');
    const before = this.items[r.index + 1];
    const at = before ? this.rows.get(before.id) : undefined;
    if (at) at.before(row);
    else this.tbody.append(row);
    this.showEmpty();
  }

  /** Writes the drone names again (after the fleet list loaded). */
  refreshDrones(): void {
    if (!this.opts.showDrone) return;
    for (const el of this.tbody.querySelectorAll<HTMLAnchorElement>('a[data-drone-link]')) {
      const name = droneName(el.dataset.droneLink!);
      if (el.textContent !== name) el.textContent = name;
    }
  }

  private showEmpty(): void {
    const none = this.items.length === 0;
    this.table.hidden = none;
    this.emptyEl.replaceChildren(none ? notice('empty', this.opts.empty) : '');
  }

  private replaceRow(a: Alert): void {
    const old = this.rows.get(a.id);
    if (!old) return;
    const row = this.row(a);
    // An open note form stays under the row; its buttons may no longer apply, the API says so.
    old.replaceWith(row);
    row.classList.add('alert-changed');
  }

  private row(a: Alert): HTMLTableRowElement {
    const row: HTMLTableRowElement = h('tr', {
      'data-testid': 'alert-row', 'data-alert-id': a.id, 'data-state': a.state, 'data-kind': a.kind, 'data-severity': a.severity, 'data-drone-id': a.drone_id,
    },
    h('td', {}, severityChip(a.severity)),
    h('td', {}, h('a', { href: `/alerts/${a.id}`, 'data-link': true, title: 'Open the alert' }, kindLabel(a.kind))),
    this.opts.showDrone ? h('td', {}, h('a', { href: `/drones/${a.drone_id}`, 'data-link': true, 'data-drone-link': a.drone_id }, droneName(a.drone_id))) : null,
    h('td', { 'data-testid': 'alert-details' }, detailsText(a.details) || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'nowrap' }, fmt.dateTime(a.first_seen)),
    h('td', { class: 'nowrap', title: fmt.ago(a.last_seen) }, fmt.dateTime(a.last_seen)),
    h('td', { 'data-testid': 'alert-count', title: 'Times raised while unresolved' }, `×${fmt.count(a.count)}`),
    h('td', {}, stateCell(a)),
    h('td', { class: 'actions' }, ...this.actionButtons(a)));
    this.rows.set(a.id, row);
    return row;
  }

  private actionButtons(a: Alert): Array<HTMLElement | null> {
    const actions = actionsFor(a);
    if (actions.length === 0) {
      return [a.state !== 'resolved' && !session.can('operator') ? h('span', { class: 'hint', title: 'Operators and admins acknowledge and resolve alerts' }, 'view only') : h('span', { class: 'muted' }, '—')];
    }
    return actions.map((action) => h('button', {
      type: 'button', class: `btn btn-small ${action === 'resolve' ? 'btn-secondary' : 'btn-primary'}`,
      'data-testid': `${action}-alert`, 'aria-label': `${ACTION_LABEL[action]} ${kindLabel(a.kind).toLowerCase()} of ${droneName(a.drone_id)}`,
      onclick: () => this.openForm(a.id, action),
    }, ACTION_LABEL[action]));
  }

  private openForm(id: string, action: AlertAction): void {
    const row = this.rows.get(id);
    const alert = this.items.find((a) => a.id === id);
    if (!row || !alert) return;
    const next = row.nextElementSibling;
    const open = next?.classList.contains('alert-action-row') ? next as HTMLElement : null;
    const same = open?.dataset.action === action;
    open?.remove();
    if (same) return;
    const span = row.children.length;
    const formRow: HTMLTableRowElement = h('tr', { class: 'alert-action-row', 'data-action': action, 'data-for': id });
    const close = () => formRow.remove();
    formRow.append(h('td', { colspan: span }, actionForm(alert, action, (changed) => {
      close();
      this.apply(changed, false);
    }, close)));
    row.after(formRow);
  }
}
