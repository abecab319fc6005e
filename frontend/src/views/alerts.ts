/**
 * Alerts (`/alerts`): what the conformance monitor raised, newest first, filtered by state
 * (active by default: open or acknowledged), kind, severity and drone, kept current by the
 * live stream's `alert` events, with cursor pagination. One alert (`/alerts/:id`, where the
 * notifications link to): everything about it, its point on a map, and the same actions.
 */
import L from 'leaflet';
import { alerts, type AlertBatch } from '../alert-store';
import { ALERT_KINDS, alertsApi, type Alert, type AlertAction, type AlertKind, type AlertStateFilter, type Severity } from '../api/alerts';
import { fleet } from '../fleet-store';
import { detailsText, filterFromQuery, kindLabel, queryOfFilter, type AlertFilter } from '../lib/alerts';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { createBaseMap } from '../map/base';
import { session } from '../session';
import { append, errorText, h, notice } from '../ui';
import { actionForm, actionsFor, AlertTable, droneName, severityChip, stateCell } from './alert-table';

const PAGE = 50;
/** Drone names offered while typing in the drone filter. */
const MAX_SUGGESTIONS = 20;

function select(id: string, label: string, options: Array<[string, string]>, value: string): HTMLSelectElement {
  return h('select', { id, 'aria-label': label }, ...options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
}

/** The severity select folds `severity` and `min_severity` into one value: `critical`, or `min:warning`. */
function severityValue(f: AlertFilter): string {
  return f.min_severity ? `min:${f.min_severity}` : f.severity ?? '';
}

function emptyText(f: AlertFilter): string {
  const filtered = f.kind || f.severity || f.min_severity || f.drone_id;
  if (filtered) return 'No alert matches these filters. Clear a filter above to see more.';
  if (f.state === 'active') return 'No active alerts: nothing needs attention. New alerts appear here as they are raised.';
  if (f.state === 'open') return 'No open alerts.';
  return f.state ? `No ${f.state} alerts.` : 'No alerts yet. New alerts appear here as they are raised.';
}

/** The drone whose name or serial is `text` (case-insensitive), if any. */
function droneByText(text: string): string | null {
  const t = text.trim().toLowerCase();
  if (!t) return null;
  for (const s of fleet.drones.values()) {
    if (s.drone && (s.drone.name.toLowerCase() === t || s.drone.serial.toLowerCase() === t)) return s.id;
  }
  return null;
}

export function alertsView(root: HTMLElement, _p: Record<string, string>, query: URLSearchParams): () => void {
  let filter = filterFromQuery(query);
  const table = new AlertTable({ showDrone: true, filter, empty: emptyText(filter) });

  const state = select('alert-filter-state', 'Filter by state', [
    ['active', 'Active (open or acknowledged)'], ['open', 'Open'], ['acknowledged', 'Acknowledged'], ['resolved', 'Resolved'], ['all', 'All states'],
  ], filter.state ?? 'all');
  const kind = select('alert-filter-kind', 'Filter by kind', [['', 'All kinds'], ...ALERT_KINDS.map((k): [string, string] => [k, kindLabel(k)])], filter.kind ?? '');
  const severity = select('alert-filter-severity', 'Filter by severity', [
    ['', 'Any severity'], ['min:warning', 'Warning or critical'], ['critical', 'Critical'], ['warning', 'Warning'], ['info', 'Info'],
  ], severityValue(filter));
  const suggestions = h('datalist', { id: 'alert-drone-names' });
  const drone = h('input', { type: 'search', id: 'alert-filter-drone', list: suggestions.id, placeholder: 'Drone name or serial', 'aria-label': 'Filter by drone (name or serial)', autocomplete: 'off' });
  const droneHint = h('span', { class: 'hint', 'aria-live': 'polite' });
  const countEl = h('span', { class: 'muted small', 'data-testid': 'alert-list-count', 'aria-live': 'polite' });
  const list = h('div', {}, table.el);
  const more = h('div', {});

  root.append(h('div', { class: 'page' },
    h('div', { class: 'row spread' }, h('h1', {}, 'Alerts'),
      session.can('operator') ? null : h('span', { class: 'hint' }, 'Viewers see alerts; operators and admins acknowledge and resolve them.')),
    h('div', { class: 'row filters alert-filters', role: 'group', 'aria-label': 'Filters' }, state, kind, severity, drone, suggestions, droneHint),
    h('div', { class: 'row spread' }, countEl),
    list, more));

  const showDroneName = () => {
    if (filter.drone_id && !drone.value) drone.value = fleet.drones.get(filter.drone_id)?.drone?.name ?? '';
  };
  showDroneName();

  let alive = true;
  let loading = 0;
  /** The query of the filters the list shows. */
  let shown = queryOfFilter(filter);
  /** Live alerts that arrived while the first page loaded: applied over it. */
  let arrived: Alert[] | null = null;
  let nextCursor: string | null = null;

  const showCount = () => {
    countEl.textContent = table.size ? `${fmt.count(table.size)} alert${table.size === 1 ? '' : 's'} shown, newest first` : '';
  };

  const load = async (cursor?: string) => {
    const token = cursor ? loading : ++loading;
    if (!cursor) {
      arrived = [];
      list.replaceChildren(notice('loading', 'Loading alerts…'));
    }
    try {
      const page = await alertsApi.list({ ...filter, limit: PAGE, cursor });
      if (!alive || token !== loading) return;
      nextCursor = page.next_cursor;
      if (cursor) table.append(page.items, !page.next_cursor);
      else {
        table.set(page.items, !page.next_cursor);
        for (const a of arrived ?? []) table.apply(a);
        arrived = null;
        list.replaceChildren(table.el);
      }
      more.replaceChildren(
        page.incomplete ? notice('info', 'Some alerts could not be read (a shard is down); the list may be incomplete.') : '',
        page.next_cursor ? h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'alerts-more', onclick: (e: Event) => {
          (e.currentTarget as HTMLButtonElement).disabled = true;
          void load(nextCursor!);
        } }, 'Load more') : '');
      showCount();
    } catch (e) {
      if (!alive || token !== loading) return;
      arrived = null;
      const retry = h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void load(cursor) }, 'Try again');
      if (cursor) more.replaceChildren(notice('error', `Could not load more alerts: ${errorText(e)}. `, retry));
      else list.replaceChildren(notice('error', `Could not load alerts: ${errorText(e)}. `, retry));
    }
  };

  /** After a reconnect: the first page again, merged (not redrawn), for events missed. */
  const mergeFirstPage = async () => {
    try {
      const token = loading;
      const page = await alertsApi.list({ ...filter, limit: PAGE });
      if (!alive || token !== loading) return;
      for (const a of page.items) table.apply(a);
      showCount();
    } catch {
      // The next reconnect or a reload tries again; the live events keep coming meanwhile.
    }
  };

  const applyFilters = () => {
    const sev = severity.value;
    filter = {
      state: state.value === 'all' ? undefined : state.value as AlertStateFilter,
      kind: (kind.value || undefined) as AlertKind | undefined,
      severity: sev && !sev.startsWith('min:') ? sev as Severity : undefined,
      min_severity: sev.startsWith('min:') ? sev.slice(4) as Severity : undefined,
      drone_id: filter.drone_id,
    };
    const text = drone.value.trim();
    if (!text) {
      filter.drone_id = undefined;
      droneHint.textContent = '';
    } else {
      const id = droneByText(text);
      if (id) {
        filter.drone_id = id;
        droneHint.textContent = '';
      } else droneHint.textContent = fleet.loaded ? `No drone is named “${text}”: the drone filter is unchanged.` : 'Drones are still loading…';
    }
    const q = queryOfFilter(filter);
    // `change` and `search` both fire for one edit of the drone box.
    if (q === shown) return;
    shown = q;
    table.setFilter(filter);
    table.setEmpty(emptyText(filter));
    history.replaceState(null, '', `/alerts${q}`);
    void load();
  };
  for (const s of [state, kind, severity]) s.addEventListener('change', applyFilters);
  drone.addEventListener('change', applyFilters);
  drone.addEventListener('search', applyFilters);
  drone.addEventListener('input', () => {
    const t = drone.value.trim().toLowerCase();
    const out: HTMLOptionElement[] = [];
    if (t) {
      for (const s of fleet.drones.values()) {
        if (!s.drone || !s.search.includes(t)) continue;
        out.push(h('option', { value: s.drone.name }, s.drone.serial));
        if (out.length >= MAX_SUGGESTIONS) break;
      }
    }
    suggestions.replaceChildren(...out);
  });

  const unsubscribe = alerts.subscribe((b: AlertBatch) => {
    for (const e of b.events) {
      if (arrived) arrived.push(e.alert);
      else table.apply(e.alert);
    }
    if (b.reconnected && !arrived) void mergeFirstPage();
    showCount();
  });
  const unfleet = fleet.subscribe((u) => {
    if (!u.listChanged) return;
    table.refreshDrones();
    showDroneName();
  });

  void load();
  return () => {
    alive = false;
    unsubscribe();
    unfleet();
  };
}

function pointText(a: Alert): string {
  const p = a.point;
  if (!p) return '—';
  return `${fmt.coordinate(p.lat)}, ${fmt.coordinate(p.lon)} · ${fmt.metres(p.alt_m, 0)} · ${fmt.dateTime(p.ts)}`;
}

export async function alertView(root: HTMLElement, params: Record<string, string>): Promise<() => void> {
  const id = params.id!;
  root.append(notice('loading', 'Loading the alert…'));
  let alert: Alert;
  try {
    alert = await alertsApi.get(id);
  } catch (e) {
    root.replaceChildren(notice('error', e instanceof ApiError && e.status === 404 ? 'This alert does not exist (or belongs to another organisation). ' : `Could not load the alert: ${errorText(e)}. `,
      h('a', { href: '/alerts', 'data-link': true }, 'Back to the alerts')));
    return () => undefined;
  }

  const card = h('section', { class: 'card', 'data-testid': 'alert-detail', 'aria-labelledby': 'alert-title' });
  const formArea = h('div', {});
  const mapCard = h('section', { class: 'card', 'aria-label': 'Where it was raised' });
  root.replaceChildren(h('div', { class: 'page' },
    h('p', {}, h('a', { href: '/alerts', 'data-link': true }, '← Alerts')),
    h('div', { class: 'grid-2' }, card, mapCard)));

  let openAction: AlertAction | null = null;
  const render = () => {
    const a = alert;
    card.dataset.state = a.state;
    card.dataset.alertId = a.id;
    const actions = actionsFor(a);
    card.replaceChildren();
    append(card,
      h('h1', { id: 'alert-title', class: 'row' }, severityChip(a.severity), kindLabel(a.kind)),
      h('dl', { class: 'dl' },
        h('dt', {}, 'Drone'), h('dd', {}, h('a', { href: `/drones/${a.drone_id}`, 'data-link': true }, droneName(a.drone_id))),
        h('dt', {}, 'What'), h('dd', { 'data-testid': 'alert-details' }, detailsText(a.details) || '—'),
        h('dt', {}, 'State'), h('dd', {}, stateCell(a)),
        h('dt', {}, 'First seen'), h('dd', {}, fmt.dateTime(a.first_seen)),
        h('dt', {}, 'Last seen'), h('dd', {}, `${fmt.dateTime(a.last_seen)} (${fmt.ago(a.last_seen)})`),
        h('dt', {}, 'Count'), h('dd', {}, `raised ${fmt.count(a.count)} time${a.count === 1 ? '' : 's'} while unresolved`),
        h('dt', {}, 'Point'), h('dd', {}, pointText(a)),
        h('dt', {}, 'Flight plan'), h('dd', {}, a.flight_plan_id ? h('span', { title: a.flight_plan_id }, `${a.flight_plan_id.slice(0, 8)}… (see the drone's plans)`) : 'none')),
      actions.length ? h('div', { class: 'row' }, ...actions.map((action) => h('button', {
        type: 'button', class: `btn btn-small ${action === 'resolve' ? 'btn-secondary' : 'btn-primary'}`, 'data-testid': `${action}-alert`,
        'aria-expanded': String(openAction === action),
        onclick: () => {
          openAction = openAction === action ? null : action;
          formArea.replaceChildren(openAction ? actionForm(alert, openAction, (changed) => { openAction = null; formArea.replaceChildren(); update(changed); }, () => { openAction = null; formArea.replaceChildren(); render(); }) : '');
          render();
        },
      }, action === 'acknowledge' ? 'Acknowledge' : 'Resolve'))) : !session.can('operator') && a.state !== 'resolved'
        ? h('p', { class: 'hint' }, 'Operators and admins acknowledge and resolve alerts.') : null,
      formArea,
    );
  };
  const update = (a: Alert) => {
    if (a.id !== alert.id || a.version <= alert.version) return;
    alert = a;
    render();
  };
  render();

  let destroyMap: (() => void) | null = null;
  const p = alert.point;
  if (p) {
    const mapEl = h('div', { class: 'map', 'data-testid': 'alert-map' });
    mapCard.append(h('h2', {}, 'Where it was raised'), h('div', { class: 'mini-map-wrap' }, mapEl));
    const base = createBaseMap(mapEl, [p.lat, p.lon], 15);
    L.circleMarker([p.lat, p.lon], { radius: 8, color: '#ffffff', weight: 2, fillColor: alert.severity === 'critical' ? '#c62828' : '#d08700', fillOpacity: 1, renderer: base.renderer })
      .bindTooltip(`${kindLabel(alert.kind)} · ${fmt.dateTime(p.ts)}`)
      .addTo(base.map);
    destroyMap = () => base.destroy();
  } else mapCard.append(h('h2', {}, 'Where it was raised'), notice('empty', 'This alert has no position (the drone stopped reporting).'));

  const unsubscribe = alerts.subscribe((b) => {
    for (const e of b.events) update(e.alert);
    if (b.reconnected) alertsApi.get(id).then(update, () => undefined);
  });
  return () => {
    unsubscribe();
    destroyMap?.();
  };
}
