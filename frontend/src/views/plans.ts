/**
 * Flight plans: a list by state (or only those with airspace conflicts) with the transitions
 * the user's role allows; an approval the airspace check refuses opens what it found under
 * the row, with the override for conflicts between plans.
 */
import L from 'leaflet';
import { api, type Plan, type PlanState } from '../api/client';
import { airspace, airspaceProblem, type AirPlan } from '../api/airspace';
import { violationMessage } from '../lib/violations';
import { fleet } from '../fleet-store';
import * as fmt from '../lib/format';
import { allowedActions, PLAN_STATES } from '../lib/plan-actions';
import { ApiError } from '../lib/problem';
import { createBaseMap, type BaseMap } from '../map/base';
import { session } from '../session';
import { errorText, h, notice, toast } from '../ui';
import { FormErrors } from '../form-errors';
import { airspaceNotice } from './plan-approve';

/** The API keeps at most this many characters of a rejection reason. */
const MAX_REASON = 500;

const LABEL: Record<string, string> = {
  submit: 'Submit', approve: 'Approve', reject: 'Reject', activate: 'Activate', complete: 'Complete', cancel: 'Cancel',
};

const routeMaps = new WeakMap<HTMLElement, BaseMap>();

function closeRoute(row: HTMLElement): void {
  routeMaps.get(row)?.destroy();
  row.remove();
}

/** A table row with the plan's route on a small map and its waypoints. */
function routeRow(p: Plan, span: number): HTMLElement {
  const mapEl = h('div', { class: 'map' });
  const row = h('tr', { class: 'plan-detail' }, h('td', { colspan: span },
    h('div', { class: 'plan-detail-body' },
      h('div', { class: 'mini-map-wrap' }, mapEl),
      h('ol', { class: 'plan-waypoints' }, ...p.waypoints.map((w) => h('li', {},
        `${fmt.coordinate(w.lat)}, ${fmt.coordinate(w.lon)} · ${fmt.metres(w.alt_m, 0)}`,
        w.speed_mps !== null && w.speed_mps !== undefined ? ` · ${fmt.speed(w.speed_mps)}` : ' · default speed',
        w.hold_s ? ` · hold ${fmt.seconds(w.hold_s)}` : ''))),
    )));
  // Leaflet needs the container in the document to measure it.
  requestAnimationFrame(() => {
    if (!row.isConnected) return;
    const first = p.waypoints[0];
    const base = createBaseMap(mapEl, first ? [first.lat, first.lon] : undefined, 15);
    routeMaps.set(row, base);
    const line = L.polyline(p.waypoints.map((w) => [w.lat, w.lon] as [number, number]), { color: '#0b57d0', weight: 3, renderer: base.renderer }).addTo(base.map);
    p.waypoints.forEach((w, i) => L.circleMarker([w.lat, w.lon], { radius: 6, color: '#0b57d0', fillColor: '#fff', fillOpacity: 1, renderer: base.renderer }).bindTooltip(`Waypoint ${i + 1}: ${fmt.metres(w.alt_m, 0)}`).addTo(base.map));
    base.map.fitBounds(line.getBounds(), { padding: [20, 20], maxZoom: 17, animate: false });
  });
  return row;
}

/** A form row under a submitted plan: the rejection reason, sent with `reject`. */
function rejectRow(p: Plan, span: number, done: () => void, close: () => void): HTMLElement {
  const form = h('form', { class: 'reject-form', novalidate: true, 'aria-label': `Reject plan ${p.name}`, 'data-testid': 'reject-form' });
  const errors = new FormErrors(form, ['reason']);
  const reason = h('textarea', { id: `reason-${p.id}`, name: 'reason', rows: 2, maxlength: MAX_REASON, placeholder: 'e.g. the route crosses the airport approach', 'data-testid': 'reject-reason' });
  const counter = h('small', { class: 'hint' }, `0 / ${MAX_REASON}`);
  reason.addEventListener('input', () => { counter.textContent = `${reason.value.length} / ${MAX_REASON}`; });
  const submit = h('button', { type: 'submit', class: 'btn btn-small btn-danger', 'data-testid': 'confirm-reject' }, 'Reject plan');
  form.append(
    h('label', { for: reason.id }, `Why is "${p.name}" rejected? (optional, shown to its author)`),
    reason, counter, errors.slot('reason'), errors.general,
    h('div', { class: 'row' }, submit, h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: close }, 'Keep it submitted')),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const next = await api.transition(p.id, 'reject', reason.value.trim() || undefined);
      toast(`Plan "${p.name}" is now ${next.state}`);
      done();
    } catch (err) {
      errors.show(err, 'Not rejected: ');
      submit.disabled = false;
    }
  });
  const row = h('tr', { class: 'plan-reject' }, h('td', { colspan: span }, form));
  requestAnimationFrame(() => reason.focus());
  return row;
}

const PENDING = ['draft', 'submitted', 'approved'];

/** Removes the form or notice row open under `row`, if any. */
function closeExtra(row: HTMLElement): void {
  const next = row.nextElementSibling;
  if (next?.classList.contains('plan-reject') || next?.classList.contains('plan-airspace')) next.remove();
}

/** What the airspace says of a listed plan: an override given, advisory fences crossed. */
function airspaceNotes(p: AirPlan): HTMLElement | null {
  const notes: Array<HTMLElement | null> = [
    p.override_reason ? h('div', { class: 'override', 'data-testid': 'override-reason-shown' }, `Approved despite conflicts: ${p.override_reason}`) : null,
    p.authorization_ref ? h('div', { class: 'muted small' }, `Authorization: ${p.authorization_ref}`) : null,
    ...(p.warnings ?? []).map((v) => h('div', { class: 'leg-warning', 'data-testid': 'plan-warning' }, `Advisory, leg ${v.leg_index + 1}: ${violationMessage(v)}`)),
  ];
  return notes.some((n) => n !== null) ? h('div', {}, ...notes) : null;
}

export function planTable(plans: AirPlan[], reload: () => void, showDrone = true): HTMLElement {
  const span = showDrone ? 6 : 5;
  const rows = plans.map((p) => {
    const actions = allowedActions(p.state, session.role);
    const droneName = fleet.drones.get(p.drone_id)?.drone?.name ?? p.drone_id.slice(0, 8) + '…';
    const toggle = h('button', { type: 'button', class: 'linkish', 'aria-expanded': 'false', title: 'Show the route' }, p.name);
    toggle.addEventListener('click', (e) => {
      const row = (e.currentTarget as HTMLElement).closest('tr')!;
      const open = row.nextElementSibling?.classList.contains('plan-detail');
      if (open) {
        closeRoute(row.nextElementSibling as HTMLElement);
        toggle.setAttribute('aria-expanded', 'false');
      } else {
        row.after(routeRow(p, span));
        toggle.setAttribute('aria-expanded', 'true');
      }
    });
    const reason = p.state === 'rejected'
      ? h('div', { class: 'rejection', 'data-testid': 'rejection-reason' }, p.rejection_reason ? `Rejected: ${p.rejection_reason}` : 'Rejected without a reason.')
      : null;
    const waiting = p.state === 'submitted' && !session.can('admin') ? h('span', { class: 'hint' }, 'waiting for an admin to approve or reject') : null;
    const edit = p.state === 'draft' && session.can('operator')
      ? h('a', { href: `/plans/${p.id}/edit`, 'data-link': true, class: 'btn btn-small btn-secondary', 'aria-label': `Edit plan ${p.name}`, 'data-testid': 'edit-plan' }, 'Edit')
      : null;
    const conflicts = PENDING.includes(p.state)
      ? h('a', { href: `/plans/${p.id}/conflicts`, 'data-link': true, class: 'btn btn-small btn-secondary', 'aria-label': `Conflicts of plan ${p.name}`, 'data-testid': 'plan-conflicts' }, 'Conflicts')
      : null;
    const row: HTMLElement = h('tr', { 'data-plan-id': p.id, 'data-state': p.state },
      h('td', {}, toggle, reason, airspaceNotes(p)),
      showDrone ? h('td', {}, h('a', { href: `/drones/${p.drone_id}`, 'data-link': true }, droneName)) : null,
      h('td', {}, h('span', { class: `state state-${p.state}`, 'data-testid': 'plan-state' }, p.state)),
      h('td', {}, fmt.dateTime(p.planned_start)),
      h('td', {}, `${p.waypoints.length} waypoints · ${fmt.distance(p.estimate.distance_m)} · ${fmt.seconds(p.estimate.duration_s)}`),
      h('td', { class: 'actions' }, actions.length === 0 && !edit && !waiting && !conflicts ? h('span', { class: 'muted' }, '—') : null, edit, waiting, conflicts,
        ...actions.map((a) => h('button', {
          type: 'button', class: `btn btn-small ${a === 'reject' || a === 'cancel' ? 'btn-danger' : 'btn-secondary'}`,
          'aria-label': `${LABEL[a]} plan ${p.name}`,
          onclick: async (e: Event) => {
            const b = e.currentTarget as HTMLButtonElement;
            if (a === 'reject') {
              const open = row.nextElementSibling?.classList.contains('plan-reject');
              closeExtra(row);
              if (!open) row.after(rejectRow(p, span, reload, () => closeExtra(row)));
              return;
            }
            if (a === 'cancel' && !window.confirm(`${LABEL[a]} the plan "${p.name}"?`)) return;
            b.disabled = true;
            try {
              const next = await api.transition(p.id, a);
              toast(`Plan "${p.name}" is now ${next.state}`);
              reload();
            } catch (err) {
              const problem = airspaceProblem(err);
              if (problem) {
                closeExtra(row);
                row.after(h('tr', { class: 'plan-airspace' }, h('td', { colspan: span }, airspaceNotice(p, problem, reload, () => closeExtra(row)))));
                b.disabled = false;
                return;
              }
              const detail = err instanceof ApiError && err.fieldErrors.length ? err.fieldErrors.map((f) => `${f.field}: ${f.message}`).join('; ') : errorText(err);
              toast(`${LABEL[a]} failed: ${detail}`, 'error');
              b.disabled = false;
            }
          },
        }, LABEL[a]))),
    );
    return row;
  });
  return h('div', { class: 'table-scroll' }, h('table', { class: 'table', 'data-testid': 'plan-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), showDrone ? h('th', {}, 'Drone') : null, h('th', {}, 'State'), h('th', {}, 'Planned start'), h('th', {}, 'Route'), h('th', {}, 'Actions'))),
    h('tbody', {}, ...rows)));
}

export function plansView(root: HTMLElement, _p: Record<string, string>, query: URLSearchParams): () => void {
  let state = query.get('state') ?? '';
  /** Only pending plans that cross a fence they may not, or meet another plan. */
  let conflicted = query.get('conflicts') === 'true';
  const list = h('div', {});
  const more = h('div', {});
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Filter by state' });
  const renderTabs = () => tabs.replaceChildren(...['', ...PLAN_STATES].map((s) =>
    h('button', { type: 'button', class: 'tab', 'aria-pressed': String(!conflicted && s === state), onclick: () => { state = s; conflicted = false; history.replaceState(null, '', s ? `/plans?state=${s}` : '/plans'); renderTabs(); void load(); } }, s || 'all')),
  h('button', { type: 'button', class: 'tab', 'aria-pressed': String(conflicted), 'data-testid': 'conflicts-tab', title: 'Pending plans that cross a fence they may not, or meet another plan', onclick: () => { conflicted = true; state = ''; history.replaceState(null, '', '/plans?conflicts=true'); renderTabs(); void load(); } }, 'with conflicts'));
  renderTabs();
  root.append(h('div', { class: 'page' },
    h('div', { class: 'row spread' }, h('h1', {}, 'Flight plans'),
      session.can('operator') ? h('a', { href: '/plans/new', 'data-link': true, class: 'btn btn-primary', 'data-testid': 'new-plan' }, 'New flight plan') : h('span', { class: 'hint' }, 'Viewers can look, not plan.')),
    tabs, list, more));
  let alive = true;
  const load = async (cursor?: string, items: Plan[] = []) => {
    if (!cursor) list.replaceChildren(notice('loading', 'Loading plans…'));
    try {
      const page = conflicted ? await airspace.conflictingPlans(cursor) : await api.plans({ state: (state || undefined) as PlanState | undefined, limit: 100, cursor });
      if (!alive) return;
      const all = [...items, ...page.items];
      list.replaceChildren(all.length ? planTable(all, () => void load()) : notice('empty', conflicted ? 'No pending plan crosses a fence it may not or meets another plan.' : state
        ? `No plans in state "${state}". Pick another state above${session.can('operator') ? ' or create a new plan' : ''}.`
        : session.can('operator') ? 'No flight plans yet. Create one with "New flight plan": click the map to add waypoints.' : 'No flight plans yet.'));
      more.replaceChildren(page.next_cursor
        ? h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void load(page.next_cursor!, all) }, 'Load more')
        : page.incomplete ? notice('info', 'Some plans could not be read (a shard is down); the list may be incomplete.') : '');
    } catch (e) {
      list.replaceChildren(notice('error', `Could not load plans: ${errorText(e)}. `, h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void load() }, 'Try again')));
    }
  };
  void load();
  return () => { alive = false; };
}
