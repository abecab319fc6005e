/**
 * Fleet overview: live map, KPIs and the drone table, kept in sync. The map's view goes to
 * the fleet worker (which clusters what is in it) and to the live subscription (which
 * follows the view from a distance, see `lib/subscription.ts`).
 */
import L from 'leaflet';
import { alerts } from '../alert-store';
import type { AlertSummary } from '../api/alerts';
import { api } from '../api/client';
import { fleet, type DroneState, type FrameUpdate } from '../fleet-store';
import { LiveConnection } from '../live';
import { bboxParam, type BBox } from '../lib/bbox';
import { FENCE_STYLES, SEVERITY_COLORS, STATUS_COLORS, batteryColor } from '../lib/colors';
import { comparator, isFiltering, matches, type BatteryBand, type FleetFilter, type Online, type SortDir, type SortKey } from '../lib/fleet-filter';
import * as fmt from '../lib/format';
import { SubscriptionScheduler, type MapView } from '../lib/subscription';
import { clockIn, zoneChoice, zoneLabel } from '../lib/time';
import { createBaseMap } from '../map/base';
import { DroneLayer } from '../map/drone-layer';
import { FenceLayer } from '../map/fence-layer';
import { session } from '../session';
import { append, h } from '../ui';
import { DroneTable } from './drone-table';

const SUMMARY_EVERY_MS = 5000;
/** Sorting by a live value re-sorts this often (not on every update, so rows hold still). */
const RESORT_MS = 5000;

function kpi(label: string, testid: string): { el: HTMLElement; value: HTMLElement } {
  const value = h('strong', { 'data-testid': testid }, '…');
  return { el: h('div', { class: 'kpi' }, h('span', { class: 'kpi-label' }, label), value), value };
}

function legend(): HTMLElement {
  const item = (color: string, text: string) => h('li', {}, h('span', { class: 'swatch', style: `background:${color}`, 'aria-hidden': 'true' }), text);
  return h('details', { class: 'legend' },
    h('summary', {}, 'Legend'),
    h('ul', {},
      item(batteryColor(80), 'active, battery ≥ 50 %'),
      item(batteryColor(30), 'active, battery 20–50 %'),
      item(batteryColor(10), 'active, battery < 20 %'),
      item(STATUS_COLORS.maintenance!, 'maintenance'),
      item(STATUS_COLORS.grounded!, 'grounded'),
      item(STATUS_COLORS.retired!, 'retired'),
      h('li', {}, h('span', { class: 'swatch hollow', 'aria-hidden': 'true' }), 'no report for 60 s'),
      h('li', {}, h('span', { class: 'swatch hollow grey', 'aria-hidden': 'true' }), 'outside the live area (pan to it)'),
      h('li', {}, h('span', { class: 'swatch round', 'aria-hidden': 'true' }), 'cluster (click to zoom in)'),
      h('li', {}, h('span', { class: 'swatch round warn', 'aria-hidden': 'true' }), 'cluster, > 10 % battery < 20 %'),
      h('li', {}, h('span', { class: 'swatch round', style: `background:${SEVERITY_COLORS.critical}`, 'aria-hidden': 'true' }), 'open critical alert (also over clusters)'),
      h('li', {}, h('span', { class: 'swatch round', style: `background:${SEVERITY_COLORS.warning}`, 'aria-hidden': 'true' }), 'open warning alert'),
      h('li', {}, h('span', { class: 'line-swatch', 'aria-hidden': 'true' }), 'active plan route'),
      h('li', {}, h('span', { class: 'line-swatch dashed', 'aria-hidden': 'true' }), 'approved plan route'),
      ...Object.entries(FENCE_STYLES).map(([kind, s]) => h('li', {},
        h('span', { class: 'fence-swatch', style: `border-color:${s.color};border-style:${s.dashArray ? (kind === 'advisory' ? 'dotted' : 'dashed') : 'solid'}`, 'aria-hidden': 'true' }), `${kind} geofence`)),
    ),
  );
}

function select(label: string, options: Array<[string, string]>): HTMLSelectElement {
  return h('select', { 'aria-label': label }, ...options.map(([v, t]) => h('option', { value: v }, t)));
}

function toBBox(b: L.LatLngBounds): BBox {
  return { west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth() };
}

export function fleetView(root: HTMLElement): () => void {
  const total = kpi('Drones', 'kpi-total');
  const byStatus = kpi('By status', 'kpi-status');
  const reporting = kpi('Reporting now', 'kpi-reporting');
  const flights = kpi('Active flights', 'kpi-flights');
  const pps = kpi('Points per second (last 5 s)', 'kpi-pps');
  const openAlerts = kpi('Open alerts', 'kpi-alerts');
  const kpiNote = h('span', { class: 'muted small kpi-note' });
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Fleet figures' }, total.el, byStatus.el, reporting.el, flights.el, pps.el, openAlerts.el, kpiNote);

  const mapEl = h('div', { class: 'map', id: 'fleet-map', 'data-testid': 'fleet-map' });
  const search = h('input', { type: 'search', id: 'drone-search', placeholder: 'Search name or serial', 'aria-label': 'Search drones by name or serial' });
  const statusFilter = select('Filter by status', [['', 'All statuses'], ...['active', 'maintenance', 'grounded', 'retired'].map((s): [string, string] => [s, s])]);
  statusFilter.id = 'filter-status';
  const batteryFilter = select('Filter by battery', [['', 'Any battery'], ['low', 'Battery < 20 %'], ['mid', 'Battery 20–50 %'], ['high', 'Battery ≥ 50 %']]);
  batteryFilter.id = 'filter-battery';
  const onlineFilter = select('Filter by reporting', [['', 'Online and offline'], ['online', 'Online (report ≤ 60 s)'], ['offline', 'Offline or never reported']]);
  onlineFilter.id = 'filter-online';
  const countEl = h('span', { class: 'muted small', 'data-testid': 'drone-count', 'aria-live': 'polite' });
  const emptyEl = h('div', { class: 'table-empty' });
  const table = new DroneTable();
  const selection = h('div', { class: 'selection', 'aria-live': 'polite', 'data-testid': 'selection' });
  const register = session.can('operator')
    ? h('a', { href: '/drones/new', 'data-link': true, class: 'btn btn-secondary btn-small', 'data-testid': 'register-drone' }, 'Register drone')
    : null;

  root.append(h('div', { class: 'fleet-page' },
    kpis,
    h('div', { class: 'fleet-main' },
      h('div', { class: 'map-wrap' }, mapEl, legend()),
      h('section', { class: 'side', 'aria-label': 'Drone list' },
        h('div', { class: 'row filters' }, search, statusFilter, batteryFilter, onlineFilter),
        h('div', { class: 'row spread' }, countEl, register),
        selection, emptyEl, table.el),
    ),
  ));

  const base = createBaseMap(mapEl);
  // Under the drones, on a canvas of its own that redraws only when the view changes.
  const fences = new FenceLayer(base.map);
  void fences.load();
  window.__nimbus.fenceLayer = fences;
  const layer = new DroneLayer();
  layer.addTo(base.map);
  window.__nimbus.layer = layer;
  const live = LiveConnection.active;

  let alive = true;
  // Routes of approved and active plans, on Leaflet's canvas renderer.
  const planLayer = L.layerGroup().addTo(base.map);
  const loadPlans = async () => {
    try {
      const [active, approved] = await Promise.all([api.plans({ state: 'active', limit: 200 }), api.plans({ state: 'approved', limit: 200 })]);
      if (!alive) return;
      planLayer.clearLayers();
      for (const p of [...active.items, ...approved.items]) {
        const color = p.state === 'active' ? '#7a3fb0' : '#0b57d0';
        L.polyline(p.waypoints.map((w) => [w.lat, w.lon] as [number, number]), { color, weight: 2, dashArray: p.state === 'active' ? undefined : '6 4', renderer: base.renderer })
          .bindTooltip(`${p.name} (${p.state})`)
          .addTo(planLayer);
      }
    } catch {
      // Plans are context on this map; the plans screen reports errors.
    }
  };
  void loadPlans();
  const planTimer = window.setInterval(() => void loadPlans(), 30_000);

  layer.onDraw = (at, costMs) => {
    const hook = window.__nimbus;
    hook.drawMs.push(costMs);
    if (hook.drawMs.length > 500) hook.drawMs.splice(0, 250);
    if (hook.recordLag) for (const t of hook.receivedAt) hook.clientLagSamples.push(at - t);
    hook.receivedAt = [];
  };

  // The view: to the worker at once (it clusters what is in view), to the subscription later.
  const currentView = (): MapView => ({ bbox: toBBox(base.map.getBounds()), zoom: base.map.getZoom() });
  const sendView = () => fleet.setView({ ...currentView(), subscribed: live?.subscribedBbox ?? null });
  const scheduler = new SubscriptionScheduler((s) => {
    if (!live) return;
    live.setBbox(s.bbox);
    sendView();
    // Drones newly inside the box have not streamed yet: fetch their newest positions.
    if (s.bbox) void fleet.refreshPositions(bboxParam(s.bbox)).catch(() => undefined);
  }, () => fleet.bounds);
  scheduler.current = { bbox: live?.subscribedBbox ?? null, zoom: base.map.getZoom() };
  base.map.on('moveend', () => {
    sendView();
    scheduler.viewChanged(currentView());
  });
  sendView();

  let following = false;
  const stopFollowing = () => {
    if (!following) return;
    following = false;
    showSelection(layer.selected ? fleet.drones.get(layer.selected) : undefined);
  };
  base.map.on('dragstart', stopFollowing);

  const centreOn = (s: DroneState, always: boolean) => {
    if (!s.point) return;
    const ll: [number, number] = [s.point.lat, s.point.lon];
    if (always || !base.map.getBounds().pad(-0.1).contains(ll)) base.map.panTo(ll, { animate: !always, duration: 0.4 });
  };

  const selectDrone = (id: string, from: 'map' | 'table') => {
    layer.select(id);
    table.select(id, from === 'map');
    const s = fleet.drones.get(id);
    if (s && from === 'table') centreOn(s, false);
    showSelection(s);
  };
  const showSelection = (s: DroneState | undefined) => {
    if (!s) {
      selection.replaceChildren();
      return;
    }
    const name = s.drone?.name ?? s.id;
    const p = s.point;
    selection.replaceChildren();
    append(selection,
      h('strong', {}, name), ' ',
      p ? `${fmt.metres(p.alt_m)} · ${fmt.speed(p.speed_mps)} · ${fmt.percent(p.battery_pct)} · heading ${fmt.degrees(p.heading_deg)} · ${fmt.lastSeen(s.t)}` : 'never reported',
      ' ',
      p ? h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'aria-pressed': String(following), 'data-testid': 'follow', onclick: () => {
        following = !following;
        if (following) centreOn(s, true);
        showSelection(s);
      } }, following ? 'Stop following' : 'Follow') : null,
      ' ',
      h('a', { href: `/drones/${s.id}`, 'data-link': true }, 'Open details'),
    );
  };
  layer.onSelect = (id) => { following = false; selectDrone(id, 'map'); };
  table.onSelect = (id) => { following = false; selectDrone(id, 'table'); };

  let sort: { key: SortKey; dir: SortDir } = { key: 'name', dir: 'asc' };
  const filter = (): FleetFilter => ({
    text: search.value.trim().toLowerCase(),
    status: statusFilter.value,
    battery: batteryFilter.value as BatteryBand,
    online: onlineFilter.value as Online,
  });
  const filterRows = () => {
    const f = filter();
    const now = Date.now();
    const all = fleet.list();
    const rows = isFiltering(f)
      ? all.filter((s) => matches(f, { search: s.search, status: s.drone?.status ?? null, battery: s.point?.battery_pct ?? Number.NaN, t: s.t }, now))
      : all;
    rows.sort(comparator(sort.key, sort.dir));
    table.setRows(rows);
    countEl.textContent = `${fmt.count(rows.length)} of ${fmt.count(fleet.drones.size)} drones`;
    if (fleet.loadError && fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-error', role: 'alert' }, `Could not load the drones: ${fleet.loadError}. `,
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void fleet.load().catch(() => undefined) }, 'Try again')));
    } else if (!fleet.loaded && fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-loading', role: 'status' }, 'Loading drones…'));
    } else if (fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-empty', role: 'status' },
        session.can('operator') ? 'No drones yet — register one with "Register drone", or start the server with --demo --simulate 10.' : 'No drones yet: an operator or admin registers them.'));
    } else if (rows.length === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-empty', role: 'status' }, 'No drone matches. Clear the search box or the filters.'));
    } else emptyEl.replaceChildren();
  };
  // Typing filters in the next frame (a few ms for 10,000 drones): no debounce delay.
  let filterFrame: number | null = null;
  const filterSoon = () => {
    if (filterFrame !== null) return;
    filterFrame = requestAnimationFrame(() => {
      filterFrame = null;
      filterRows();
      fleet.setFilter(filter());
    });
  };
  search.addEventListener('input', filterSoon);
  for (const s of [statusFilter, batteryFilter, onlineFilter]) s.addEventListener('change', filterSoon);
  table.onSort = (key, dir) => {
    sort = { key, dir };
    filterRows();
  };

  let fitted = false;
  const fitOnce = () => {
    if (fitted || !fleet.bounds) return;
    fitted = true;
    const b = fleet.bounds;
    base.map.fitBounds([[b.south, b.west], [b.north, b.east]], { padding: [30, 30], maxZoom: 15, animate: false });
  };

  // A badge changed: the visible rows and the drawn drones, nothing else.
  const unbadge = alerts.onBadges(() => {
    table.refreshVisible();
    layer.redraw();
  });

  const unsubscribe = fleet.subscribe((u: FrameUpdate) => {
    if (u.listChanged) filterRows();
    else if (u.changed > 0) table.refreshVisible();
    // Updates are handed out inside requestAnimationFrame: draw in the same frame.
    layer.redrawNow();
    const sel = layer.selected;
    if (sel && u.has(sel)) {
      const s = fleet.drones.get(sel);
      showSelection(s);
      if (following && s) centreOn(s, true);
    }
    fitOnce();
  });
  filterRows();
  fleet.setFilter(filter());
  fitOnce();

  const renderSummary = (s: AlertSummary) => {
    total.value.textContent = fmt.count(s.drones_total);
    byStatus.value.replaceChildren(...Object.entries(s.drones_by_status).map(([k, v]) =>
      h('span', { class: 'status-chip' }, h('span', { class: 'swatch', style: `background:${STATUS_COLORS[k] ?? '#5f6368'}`, 'aria-hidden': 'true' }), `${k} ${fmt.count(v)}`)));
    reporting.value.textContent = `${fmt.count(s.reporting_last_60s)} drones`;
    flights.value.textContent = fmt.count(s.active_flight_plans);
    pps.value.textContent = fmt.rate(s.points_per_second);
    const open = s.open_alerts;
    openAlerts.value.replaceChildren(open
      ? h('a', { href: '/alerts', 'data-link': true, class: 'kpi-link', title: 'Open the alerts' }, ...(['critical', 'warning', 'info'] as const).map((k) =>
        h('span', { class: 'status-chip' }, h('span', { class: 'swatch round', style: `background:${SEVERITY_COLORS[k]}`, 'aria-hidden': 'true' }), `${k} ${fmt.count(open[k] ?? 0)}`)))
      : '—');
    kpiNote.textContent = `updated ${clockIn(Date.now(), zoneChoice(), true)} ${zoneLabel()}`;
  };
  const loadSummary = async () => {
    try {
      const summary = await api.summary();
      if (alive) renderSummary(summary);
    } catch (e) {
      kpiNote.textContent = `Figures not updated (${e instanceof Error ? e.message.replace(/\.$/, '') : e}); retrying every 5 s.`;
    }
  };
  void loadSummary();
  const summaryTimer = window.setInterval(() => void loadSummary(), SUMMARY_EVERY_MS);
  // "Last seen" ages without new data, and a live sort order drifts: refresh every few seconds.
  const ageTimer = window.setInterval(() => {
    if (sort.key !== 'name' && sort.key !== 'status' || filter().online) filterRows();
    else table.refreshVisible();
  }, RESORT_MS);

  return () => {
    alive = false;
    unsubscribe();
    unbadge();
    scheduler.stop();
    // Other screens show drones anywhere: back to the whole fleet.
    live?.setBbox(null);
    fleet.subscribed = null;
    if (filterFrame !== null) cancelAnimationFrame(filterFrame);
    window.clearInterval(summaryTimer);
    window.clearInterval(ageTimer);
    window.clearInterval(planTimer);
    window.__nimbus.layer = null;
    fences.remove();
    if (window.__nimbus.fenceLayer === fences) window.__nimbus.fenceLayer = null;
    base.destroy();
  };
}
