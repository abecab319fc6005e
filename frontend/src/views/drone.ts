/**
 * Drone detail: metadata (editable with If-Match), live values, its position with the active
 * plan's corridor, its alerts (live), history charts, plans, exports.
 */
import L from 'leaflet';
import { alerts } from '../alert-store';
import { alertsApi, type Alert } from '../api/alerts';
import type uPlot from 'uplot';
import { api, type Drone, type DroneStatus, type DroneUpdate, type ExportFormat, type Point } from '../api/client';
import { fleet, type LivePoint } from '../fleet-store';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { DEFAULT_LATERAL_BUFFER_M } from '../lib/corridor';
import { createBaseMap } from '../map/base';
import { CorridorLayer } from '../map/corridor-layer';
import { DroneLayer } from '../map/drone-layer';
import { navigate } from '../router';
import { session } from '../session';
import { downloadBlob, errorText, h, notice, toast } from '../ui';
import { chartData, distanceFlown, RANGES, SERIES } from '../lib/chart-data';
import { makeChart } from './charts';
import { planTable } from './plans';
import { AlertTable } from './alert-table';

const ALERT_PAGE = 20;
/** The active plan (and so the corridor) is looked for again this often. */
const PLAN_EVERY_MS = 30_000;

export async function droneView(root: HTMLElement, params: Record<string, string>): Promise<() => void> {
  const id = params.id!;
  const cleanups: Array<() => void> = [];
  root.append(notice('loading', 'Loading the drone…'));
  let drone: Drone;
  let etag: string;
  try {
    const r = await api.drone(id);
    drone = r.body;
    etag = r.etag ?? `"${drone.version}"`;
  } catch (e) {
    root.replaceChildren(
      notice('error', e instanceof ApiError && e.status === 404 ? 'This drone does not exist (or belongs to another organisation). ' : `Could not load the drone: ${errorText(e)}. `,
        h('a', { href: '/', 'data-link': true }, 'Back to the fleet')),
    );
    return () => undefined;
  }

  // A text node, not an element: the heading's own text is the drone's name.
  const titleText = document.createTextNode(drone.name);
  const titleBadge = h('a', { href: `/alerts?drone_id=${id}`, 'data-link': true, class: 'alert-pill', hidden: true, 'data-testid': 'drone-alert-badge' });
  const title = h('h1', { class: 'row' }, titleText, titleBadge);
  const meta = h('section', { class: 'card', 'aria-labelledby': 'meta-title' });
  const liveCard = h('section', { class: 'card', 'aria-labelledby': 'live-title', 'data-testid': 'live-values' });
  const mapCard = h('section', { class: 'card', 'aria-labelledby': 'map-title' });
  const alertCard = h('section', { class: 'card', 'aria-labelledby': 'alerts-title', 'data-testid': 'drone-alerts' });
  const charts = h('section', { class: 'card charts-card', 'aria-labelledby': 'charts-title' });
  const plans = h('section', { class: 'card', 'aria-labelledby': 'plans-title' });
  const exports = h('section', { class: 'card', 'aria-labelledby': 'export-title' });
  root.replaceChildren(h('div', { class: 'page' },
    h('p', {}, h('a', { href: '/', 'data-link': true }, '← Fleet')),
    title,
    h('div', { class: 'grid-2' }, meta, liveCard),
    mapCard,
    alertCard,
    charts,
    h('div', { class: 'grid-2' }, plans, exports),
  ));

  const deleteError = h('p', { class: 'field-error', role: 'alert' });
  const remove = async () => {
    if (!window.confirm(`Delete the drone "${drone.name}" (${drone.serial}) with its flight plans and API keys? Its telemetry stays until retention removes it.`)) return;
    deleteError.textContent = '';
    try {
      await api.deleteDrone(id);
      fleet.removeDrone(id);
      toast(`Drone "${drone.name}" deleted`);
      navigate('/');
    } catch (e) {
      deleteError.textContent = e instanceof ApiError && e.code === 'drone_has_open_plans'
        ? 'Not deleted: one of its flight plans is approved or active. Complete or cancel it first.'
        : `Not deleted: ${errorText(e)}`;
    }
  };

  const renderMeta = (editing = false, errors: Map<string, string> = new Map()) => {
    const rows: Array<[string, string, keyof DroneUpdate | null, string]> = [
      ['Name', drone.name, 'name', 'text'],
      ['Serial', drone.serial, 'serial', 'text'],
      ['Model', drone.model, 'model', 'text'],
      ['Manufacturer', drone.manufacturer ?? '', 'manufacturer', 'text'],
      ['Firmware', drone.firmware_version ?? '', 'firmware_version', 'text'],
      ['Status', drone.status, 'status', 'status'],
      ['Max altitude (m)', String(drone.max_altitude_m), 'max_altitude_m', 'number'],
      ['Max speed (m/s)', String(drone.max_speed_mps), 'max_speed_mps', 'number'],
      ['Endurance (min)', String(drone.endurance_min), 'endurance_min', 'number'],
      ['Link timeout (s)', drone.link_timeout_s == null ? '' : String(drone.link_timeout_s), 'link_timeout_s', 'number'],
    ];
    const heading = h('h2', { id: 'meta-title' }, 'Details');
    if (!editing) {
      const display: Record<string, string> = {
        max_altitude_m: fmt.metres(drone.max_altitude_m, 0),
        max_speed_mps: fmt.speed(drone.max_speed_mps, 0),
        endurance_min: fmt.minutes(drone.endurance_min),
        link_timeout_s: drone.link_timeout_s == null
          ? 'the default'
          : `${drone.link_timeout_s} s (its own)`,
      };
      meta.replaceChildren(heading,
        h('dl', { class: 'dl' }, ...rows.flatMap(([label, value, key]) => [h('dt', {}, label.replace(/ \(.*\)$/, '')), h('dd', {}, (key && display[key]) || value || '—')]),
          h('dt', {}, 'Home'), h('dd', {}, drone.home ? `${fmt.coordinate(drone.home.lat)}, ${fmt.coordinate(drone.home.lon)}` : '—'),
          h('dt', {}, 'Updated'), h('dd', {}, `${fmt.dateTime(drone.updated_at)} (version ${drone.version})`)),
        h('div', { class: 'row' },
          session.can('operator')
            ? h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => renderMeta(true) }, 'Edit details')
            : h('p', { class: 'hint' }, 'Viewers cannot edit drones; ask an operator or admin.'),
          session.can('admin')
            ? h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'delete-drone', onclick: () => void remove() }, 'Delete drone')
            : session.can('operator') ? h('button', { type: 'button', class: 'btn btn-danger', disabled: true, title: 'Only admins delete drones' }, 'Delete drone') : null,
          session.can('operator') && !session.can('admin') ? h('span', { class: 'hint' }, 'Only admins delete drones.') : null),
        deleteError,
      );
      return;
    }
    const form = h('form', { class: 'form-grid', novalidate: true });
    for (const [label, value, key, kind] of rows) {
      if (!key) continue;
      const inputId = `drone-${key}`;
      const input = kind === 'status'
        ? h('select', { id: inputId, name: key }, ...['active', 'maintenance', 'grounded', 'retired'].map((s) => h('option', { value: s, selected: s === value }, s)))
        : h('input', { id: inputId, name: key, type: kind, value, step: kind === 'number' ? 'any' : null, 'aria-invalid': errors.has(key) ? 'true' : null,
          placeholder: key === 'link_timeout_s' ? 'empty: the default' : null });
      form.append(h('label', { for: inputId }, label), h('div', {}, input, errors.has(key) ? h('span', { class: 'field-error', role: 'alert' }, errors.get(key)!) : null));
    }
    const general = h('p', { class: 'field-error', role: 'alert' }, errors.get('') ?? '');
    form.append(general, h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => renderMeta(false) }, 'Cancel')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const patch: DroneUpdate = {};
      const text = (k: 'name' | 'serial' | 'model') => {
        const v = String(data.get(k) ?? '').trim();
        if (v !== drone[k]) patch[k] = v;
      };
      text('name'); text('serial'); text('model');
      const status = String(data.get('status') ?? '').trim() as DroneStatus;
      if (status !== drone.status) patch.status = status;
      const optional = (k: 'manufacturer' | 'firmware_version') => {
        const v = String(data.get(k) ?? '').trim();
        if (v !== (drone[k] ?? '')) patch[k] = v === '' ? null : v;
      };
      optional('manufacturer'); optional('firmware_version');
      const num = (k: 'max_altitude_m' | 'max_speed_mps' | 'endurance_min') => {
        const v = Number(data.get(k));
        if (v !== drone[k]) patch[k] = v;
      };
      num('max_altitude_m'); num('max_speed_mps'); num('endurance_min');
      const timeout = String(data.get('link_timeout_s') ?? '').trim();
      const ownTimeout = timeout === '' ? null : Number(timeout);
      if (ownTimeout !== (drone.link_timeout_s ?? null)) patch.link_timeout_s = ownTimeout;
      if (Object.keys(patch).length === 0) {
        renderMeta(false);
        return;
      }
      try {
        const r = await api.updateDrone(id, etag, patch);
        drone = r.body;
        etag = r.etag ?? `"${drone.version}"`;
        titleText.textContent = drone.name;
        fleet.upsertDrone(drone);
        toast('Drone saved');
        renderMeta(false);
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          const fresh = await api.drone(id);
          drone = fresh.body;
          etag = fresh.etag ?? `"${drone.version}"`;
          renderMeta(true, new Map([['', 'Someone else changed this drone meanwhile. The form now shows their version; apply your change again and save.']]));
          return;
        }
        const map = new Map<string, string>();
        if (err instanceof ApiError) for (const f of err.fieldErrors) map.set(f.field, f.message);
        if (!map.size || err instanceof ApiError && err.fieldErrors.some((f) => !rows.some((r) => r[2] === f.field))) map.set('', errorText(err));
        renderMeta(true, map);
      }
    });
    meta.replaceChildren(heading, form);
    form.querySelector<HTMLElement>('input')?.focus();
  };
  renderMeta();

  // Live values: from the fleet store (kept current by the live stream), seeded by `latest`.
  const liveBody = h('dl', { class: 'dl' });
  const liveNote = h('p', { class: 'hint' });
  liveCard.append(h('h2', { id: 'live-title' }, 'Live telemetry'), liveNote, liveBody);
  const renderLive = (p: LivePoint | null, t: number) => {
    if (!p) {
      liveNote.textContent = 'No telemetry yet. Values appear as soon as the drone (or the simulator) sends points to POST /api/v1/telemetry.';
      liveBody.replaceChildren();
      return;
    }
    liveNote.textContent = `Last point ${fmt.ago(t)} (${fmt.dateTime(t)})`;
    const item = (k: string, v: string, testid?: string) => [h('dt', {}, k), h('dd', testid ? { 'data-testid': testid } : {}, v)];
    liveBody.replaceChildren(
      ...item('Position', `${fmt.coordinate(p.lat)}, ${fmt.coordinate(p.lon)}`),
      ...item('Altitude', fmt.metres(p.alt_m), 'live-alt'),
      ...item('Speed', fmt.speed(p.speed_mps), 'live-speed'),
      ...item('Vertical speed', fmt.speed(p.vertical_speed_mps)),
      ...item('Heading', fmt.degrees(p.heading_deg)),
      ...item('Battery', fmt.percent(p.battery_pct, 1), 'live-battery'),
      ...item('Link quality', fmt.percent(p.link_quality_pct)),
      ...item('Satellites', p.satellites === null || p.satellites === undefined ? '—' : `${p.satellites} satellites`),
    );
  };
  const fromApi = (p: Point): LivePoint => ({ ...p, vertical_speed_mps: p.vertical_speed_mps ?? null, link_quality_pct: p.link_quality_pct ?? null, satellites: p.satellites ?? null });
  const renderStored = () => {
    const s = fleet.drones.get(id);
    renderLive(s?.point ?? null, s?.t ?? 0);
  };
  const known = fleet.drones.get(id)?.point ?? null;
  renderStored();
  if (!known) api.latest(id).then((p) => { if (!fleet.drones.get(id)?.point) renderLive(fromApi(p), Date.parse(p.ts)); }).catch(() => renderLive(null, 0));
  cleanups.push(fleet.subscribe((u) => {
    if (u.has(id)) renderStored();
  }));
  const ageTimer = window.setInterval(() => { if (fleet.drones.get(id)?.point) renderStored(); }, 5000);
  cleanups.push(() => window.clearInterval(ageTimer));

  // Position, trail and home on a small map that follows the drone.
  const miniEl = h('div', { class: 'map', 'data-testid': 'drone-map' });
  mapCard.append(h('h2', { id: 'map-title' }, 'Position and recent track'), h('div', { class: 'mini-map-wrap' }, miniEl));
  const here = fleet.drones.get(id)?.point ?? drone.home;
  const mini = createBaseMap(miniEl, here ? [here.lat, here.lon] : undefined, 15);
  const only = new DroneLayer({ only: () => {
    const s = fleet.drones.get(id);
    return s?.point ? [s] : [];
  } });
  only.selected = id;
  only.addTo(mini.map);
  if (drone.home) {
    L.circleMarker([drone.home.lat, drone.home.lon], { radius: 5, color: '#14202e', weight: 2, fillColor: '#ffffff', fillOpacity: 1, renderer: mini.renderer })
      .bindTooltip('Home')
      .addTo(mini.map);
  }
  cleanups.push(fleet.subscribe((u) => {
    if (!u.has(id)) return;
    only.redraw();
    const p = fleet.drones.get(id)?.point;
    if (p && !mini.map.getBounds().pad(-0.2).contains([p.lat, p.lon])) mini.map.panTo([p.lat, p.lon]);
  }));
  cleanups.push(() => mini.destroy());

  // The active plan's path and corridor: what `off_corridor` alerts are measured against.
  const corridor = new CorridorLayer(mini.map, mini.renderer);
  const corridorNote = h('p', { class: 'hint', 'data-testid': 'corridor-note' });
  mapCard.append(corridorNote);
  const loadCorridor = async () => {
    try {
      const active = (await api.plans({ drone_id: id, state: 'active', limit: 1 })).items[0];
      corridor.show(active?.id ?? null, active?.name ?? '', active?.waypoints ?? []);
      corridorNote.textContent = active
        ? `Purple: the active plan “${active.name}”, with its corridor of ${DEFAULT_LATERAL_BUFFER_M} m to each side.`
        : 'No active flight plan: no corridor to show.';
    } catch {
      // The corridor is context; the plans card below reports errors.
    }
  };
  void loadCorridor();
  const corridorTimer = window.setInterval(() => void loadCorridor(), PLAN_EVERY_MS);
  cleanups.push(() => {
    window.clearInterval(corridorTimer);
    corridor.remove();
  });

  // Its alerts, every state, newest first, kept current by the live stream.
  const showBadge = () => {
    const sev = alerts.severityOf(id);
    titleBadge.hidden = !sev;
    titleBadge.dataset.severity = sev ?? '';
    titleBadge.textContent = sev ? `${sev} alert open` : '';
    only.redraw();
  };
  showBadge();
  cleanups.push(alerts.onBadges(showBadge));
  const alertTable = new AlertTable({ showDrone: false, filter: { drone_id: id }, empty: 'No alerts for this drone.' });
  const alertMore = h('div', {});
  const alertBox = h('div', {}, notice('loading', 'Loading alerts…'));
  alertCard.append(h('div', { class: 'row spread' }, h('h2', { id: 'alerts-title' }, 'Alerts'),
    h('a', { href: `/alerts?drone_id=${id}&state=all`, 'data-link': true }, 'On the alerts screen')), alertBox, alertMore);
  /** Live alerts that arrived while the first page loaded: applied over it. */
  let arrived: Alert[] | null = [];
  const loadAlerts = async (cursor?: string) => {
    try {
      const page = await alertsApi.list({ drone_id: id, limit: ALERT_PAGE, cursor });
      if (cursor) alertTable.append(page.items, !page.next_cursor);
      else {
        alertTable.set(page.items, !page.next_cursor);
        for (const a of arrived ?? []) alertTable.apply(a);
        arrived = null;
        alertBox.replaceChildren(alertTable.el);
      }
      alertMore.replaceChildren(page.next_cursor
        ? h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => void loadAlerts(page.next_cursor!) }, 'Load more')
        : '');
    } catch (e) {
      if (!cursor) {
        arrived = null;
        alertBox.replaceChildren(notice('error', `Could not load the alerts: ${errorText(e)}`));
      }
      else toast(`Could not load more alerts: ${errorText(e)}`, 'error');
    }
  };
  void loadAlerts();
  cleanups.push(alerts.subscribe((b) => {
    for (const e of b.events) {
      if (e.alert.drone_id !== id) continue;
      if (arrived) arrived.push(e.alert);
      else alertTable.apply(e.alert);
    }
  }));

  // History charts.
  const rangeSelect = h('select', { id: 'range', 'aria-label': 'Time range' }, ...RANGES.map((r, i) => h('option', { value: String(i), selected: i === 0 }, `${r.label} (per ${r.interval})`)));
  const chartArea = h('div', { class: 'charts', 'data-testid': 'charts' });
  const chartNote = h('p', { class: 'hint', role: 'status' });
  charts.append(h('div', { class: 'row spread' }, h('h2', { id: 'charts-title' }, 'History'), h('label', { class: 'row' }, 'Range ', rangeSelect)), chartNote, chartArea);
  let plots: uPlot[] = [];
  const loadCharts = async () => {
    const range = RANGES[Number(rangeSelect.value)] ?? RANGES[0];
    const to = new Date();
    const from = new Date(to.getTime() - range.minutes * 60_000);
    chartNote.textContent = 'Loading history…';
    try {
      const hist = await api.history(id, { from: from.toISOString(), to: to.toISOString(), interval: range.interval });
      for (const p of plots) p.destroy();
      plots = [];
      chartArea.replaceChildren();
      chartArea.dataset.points = String(hist.buckets.length);
      if (hist.buckets.length === 0) {
        chartNote.textContent = 'No telemetry in this range. Pick a longer range, or wait for the drone to report.';
        return;
      }
      chartNote.textContent = `${hist.buckets.length} buckets of ${hist.interval_s ?? '?'} s: average (solid) with minimum and maximum (dashed). Distance flown in this range: ${fmt.distance(distanceFlown(hist.buckets))}.`;
      const width = Math.max(280, Math.min(chartArea.clientWidth || 900, 1400) / (chartArea.clientWidth > 1000 ? 3 : 1) - 16);
      for (const s of SERIES) {
        const box = h('div', { class: 'chart', 'data-series': s.title });
        chartArea.append(box);
        plots.push(makeChart(box, s, chartData(hist.buckets, s.pick), width));
      }
    } catch (e) {
      chartNote.textContent = `Could not load the history: ${errorText(e)}. Try another range or reload.`;
    }
  };
  rangeSelect.addEventListener('change', () => void loadCharts());
  void loadCharts();
  const chartTimer = window.setInterval(() => void loadCharts(), 30_000);
  cleanups.push(() => {
    window.clearInterval(chartTimer);
    for (const p of plots) p.destroy();
  });

  // Flight plans of this drone.
  plans.append(h('div', { class: 'row spread' }, h('h2', { id: 'plans-title' }, 'Flight plans'),
    session.can('operator') ? h('a', { href: `/plans/new?drone_id=${id}`, 'data-link': true, class: 'btn btn-secondary' }, 'New plan') : null));
  const planBox = h('div', {}, notice('loading', 'Loading plans…'));
  plans.append(planBox);
  const loadPlans = async () => {
    try {
      const list = await api.plans({ drone_id: id, limit: 100 });
      planBox.replaceChildren(list.items.length ? planTable(list.items, loadPlans, false) : notice('empty', 'No flight plans for this drone yet. Create one with "New plan".'));
    } catch (e) {
      planBox.replaceChildren(notice('error', `Could not load plans: ${errorText(e)}`));
    }
  };
  void loadPlans();

  // Track export: the API needs the auth header, so fetch as a blob and save it.
  exports.append(h('h2', { id: 'export-title' }, 'Export track'), h('p', { class: 'hint' }, 'The track of the range selected above, streamed by the server.'));
  const row = h('div', { class: 'row' });
  for (const [format, label] of [['geojson', 'GeoJSON'], ['csv', 'CSV'], ['gpx', 'GPX']] as Array<[ExportFormat, string]>) {
    row.append(h('button', { type: 'button', class: 'btn btn-secondary', onclick: async (e: Event) => {
      const b = e.currentTarget as HTMLButtonElement;
      b.disabled = true;
      const range = RANGES[Number(rangeSelect.value)] ?? RANGES[0];
      const to = new Date();
      const from = new Date(to.getTime() - range.minutes * 60_000);
      try {
        const blob = await api.exportTrack(id, format, from.toISOString(), to.toISOString());
        downloadBlob(blob, `${drone.serial}-track.${format === 'geojson' ? 'geojson' : format}`);
      } catch (err) {
        toast(`Export failed: ${errorText(err)}`, 'error');
      } finally {
        b.disabled = false;
      }
    } }, `Download ${label}`));
  }
  exports.append(row);

  return () => cleanups.forEach((c) => c());
}
