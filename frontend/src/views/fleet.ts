/** Fleet overview: live map, KPIs and the drone table, kept in sync. */
import L from 'leaflet';
import { api, type Summary } from '../api/client';
import { fleet, type DroneState, type FrameUpdate } from '../fleet-store';
import { STATUS_COLORS, batteryColor } from '../lib/colors';
import * as fmt from '../lib/format';
import { createBaseMap } from '../map/base';
import { DroneLayer } from '../map/drone-layer';
import { h } from '../ui';
import { DroneTable } from './drone-table';

const SUMMARY_EVERY_MS = 5000;

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
      h('li', {}, h('span', { class: 'line-swatch', 'aria-hidden': 'true' }), 'active plan route'),
      h('li', {}, h('span', { class: 'line-swatch dashed', 'aria-hidden': 'true' }), 'approved plan route'),
    ),
  );
}

export function fleetView(root: HTMLElement): () => void {
  const total = kpi('Drones', 'kpi-total');
  const byStatus = kpi('By status', 'kpi-status');
  const reporting = kpi('Reporting now', 'kpi-reporting');
  const flights = kpi('Active flights', 'kpi-flights');
  const pps = kpi('Points per second', 'kpi-pps');
  const kpiNote = h('span', { class: 'muted small kpi-note' });
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Fleet figures' }, total.el, byStatus.el, reporting.el, flights.el, pps.el, kpiNote);

  const mapEl = h('div', { class: 'map', id: 'fleet-map', 'data-testid': 'fleet-map' });
  const search = h('input', { type: 'search', id: 'drone-search', placeholder: 'Search name or serial', 'aria-label': 'Search drones by name or serial' });
  const statusFilter = h('select', { 'aria-label': 'Filter by status' },
    h('option', { value: '' }, 'All statuses'),
    ...['active', 'maintenance', 'grounded', 'retired'].map((s) => h('option', { value: s }, s)));
  const countEl = h('span', { class: 'muted small', 'data-testid': 'drone-count', 'aria-live': 'polite' });
  const emptyEl = h('div', { class: 'table-empty' });
  const table = new DroneTable();
  const selection = h('div', { class: 'selection', 'aria-live': 'polite' });

  root.append(h('div', { class: 'fleet-page' },
    kpis,
    h('div', { class: 'fleet-main' },
      h('div', { class: 'map-wrap' }, mapEl, legend()),
      h('section', { class: 'side', 'aria-label': 'Drone list' },
        h('div', { class: 'row' }, search, statusFilter),
        countEl, selection, emptyEl, table.el),
    ),
  ));

  const base = createBaseMap(mapEl);
  const layer = new DroneLayer(() => fleet.drones.values());
  layer.addTo(base.map);
  window.__nimbus.layer = layer;

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

  let pendingLag: number[] = [];
  layer.onDraw = (at) => {
    const hook = window.__nimbus;
    if (hook.recordLag) {
      for (const t of pendingLag) hook.lagSamples.push(at - t);
      for (const t of hook.receivedAt) hook.clientLagSamples.push(at - t);
    }
    hook.receivedAt = [];
    pendingLag = [];
  };

  const select = (id: string, from: 'map' | 'table') => {
    layer.select(id);
    table.select(id, from === 'map');
    const s = fleet.drones.get(id);
    if (s?.point && from === 'table') {
      const ll: [number, number] = [s.point.lat, s.point.lon];
      if (!base.map.getBounds().pad(-0.1).contains(ll)) base.map.panTo(ll);
    }
    showSelection(s);
  };
  const showSelection = (s: DroneState | undefined) => {
    if (!s) {
      selection.replaceChildren();
      return;
    }
    const name = s.drone?.name ?? s.id;
    selection.replaceChildren(
      h('strong', {}, name), ' ',
      s.point ? `${fmt.metres(s.point.alt_m)} · ${fmt.speed(s.point.speed_mps)} · ${fmt.percent(s.point.battery_pct)} · heading ${fmt.degrees(s.point.heading_deg)}` : 'no position yet',
      ' ',
      h('a', { href: `/drones/${s.id}`, 'data-link': true }, 'Open details'),
    );
  };
  layer.onSelect = (id) => select(id, 'map');
  table.onSelect = (id) => select(id, 'table');

  const filterRows = () => {
    const q = search.value.trim().toLowerCase();
    const st = statusFilter.value;
    const rows = fleet.list().filter((s) => {
      if (st && s.drone?.status !== st) return false;
      if (!q) return true;
      const d = s.drone;
      return !!d && (d.name.toLowerCase().includes(q) || d.serial.toLowerCase().includes(q));
    });
    rows.sort((a, b) => (a.drone?.name ?? '\uffff' + a.id).localeCompare(b.drone?.name ?? '\uffff' + b.id));
    table.setRows(rows);
    countEl.textContent = `${fmt.count(rows.length)} of ${fmt.count(fleet.drones.size)} drones`;
    if (fleet.loadError && fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-error', role: 'alert' }, `Could not load the drones: ${fleet.loadError}. `,
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void fleet.load().catch(() => undefined) }, 'Try again')));
    } else if (!fleet.loaded && fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-loading', role: 'status' }, 'Loading drones…'));
    } else if (fleet.drones.size === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-empty', role: 'status' }, 'No drones yet — register one with POST /api/v1/drones (see the API docs at /docs/), or start the server with --demo --simulate 10.'));
    } else if (rows.length === 0) {
      emptyEl.replaceChildren(h('div', { class: 'notice notice-empty', role: 'status' }, 'No drone matches this search. Clear the search box or the status filter.'));
    } else emptyEl.replaceChildren();
  };
  let filterTimer: number | undefined;
  search.addEventListener('input', () => {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(filterRows, 120);
  });
  statusFilter.addEventListener('change', filterRows);

  let fitted = false;
  const fitOnce = () => {
    if (fitted) return;
    const pts = fleet.list().filter((s) => s.point).map((s) => [s.point!.lat, s.point!.lon] as [number, number]);
    if (pts.length === 0) return;
    fitted = true;
    base.map.fitBounds(pts, { padding: [30, 30], maxZoom: 15 });
  };

  const unsubscribe = fleet.subscribe((u: FrameUpdate) => {
    for (const p of u.points) pendingLag.push(Date.parse(p.ts));
    if (u.listChanged) filterRows();
    else table.refresh(u.changed);
    // Live frames arrive inside requestAnimationFrame: draw in the same frame.
    if (u.points.length > 0) layer.redrawNow();
    else if (u.changed.size > 0 || u.listChanged) layer.redraw();
    if (layer.selected && u.changed.has(layer.selected)) showSelection(fleet.drones.get(layer.selected));
    fitOnce();
  });
  filterRows();
  fitOnce();

  const renderSummary = (s: Summary) => {
    total.value.textContent = fmt.count(s.drones_total);
    byStatus.value.replaceChildren(...Object.entries(s.drones_by_status).map(([k, v]) =>
      h('span', { class: 'status-chip' }, h('span', { class: 'swatch', style: `background:${STATUS_COLORS[k] ?? '#5f6368'}`, 'aria-hidden': 'true' }), `${k} ${fmt.count(v)}`)));
    reporting.value.textContent = `${fmt.count(s.reporting_last_60s)} drones`;
    flights.value.textContent = fmt.count(s.active_flight_plans);
    pps.value.textContent = fmt.rate(s.points_last_minute / 60);
    kpiNote.textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
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
  // "Last seen" ages without new data; refresh the visible rows every few seconds.
  const ageTimer = window.setInterval(() => table.refreshAll(), 5000);

  return () => {
    alive = false;
    unsubscribe();
    window.clearInterval(summaryTimer);
    window.clearInterval(ageTimer);
    window.clearInterval(planTimer);
    window.__nimbus.layer = null;
    base.destroy();
  };
}
