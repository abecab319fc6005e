/**
 * The flight plan editor: a new plan (`/plans/new`) or a draft (`/plans/:id/edit`). Click
 * the map to add waypoints, edit altitude/speed/hold in the list, save or submit; the API's
 * errors are shown at the waypoint and field they name, and airspace problems (fences
 * crossed, conflicts with other plans) at the leg they name and on the map, over the
 * organisation's geofences.
 */
import L from 'leaflet';
import { api, type Waypoint } from '../api/client';
import { airspace, type AirNewPlan, type AirPlan, type AirPlanUpdate } from '../api/airspace';
import { fleet } from '../fleet-store';
import * as fmt from '../lib/format';
import { ApiError, groupFieldErrors, type GroupedErrors } from '../lib/problem';
import { createBaseMap } from '../map/base';
import { DroneLayer } from '../map/drone-layer';
import { FenceLayer } from '../map/fence-layer';
import { navigate } from '../router';
import { session } from '../session';
import { fromInputValue, toInputValue, zoneChoice, zoneLabel } from '../lib/time';
import { errorText, h, notice, toast } from '../ui';
import { PlanAirspace } from './plan-airspace';

interface Draft {
  lat: number;
  lon: number;
  alt_m: string;
  speed_mps: string;
  hold_s: string;
}

function optionalNumber(s: string): number | null {
  return s.trim() === '' ? null : Number(s);
}

export async function planEditorView(root: HTMLElement, params: Record<string, string>, query: URLSearchParams): Promise<() => void> {
  if (!session.can('operator')) {
    root.append(notice('error', 'Only operators and admins can create and edit flight plans. ', h('a', { href: '/plans', 'data-link': true }, 'Back to the plans')));
    return () => undefined;
  }
  /** The draft being edited, once the plan exists on the server. */
  let editing: { plan: AirPlan; etag: string } | null = null;
  if (params.id) {
    root.append(notice('loading', 'Loading the plan…'));
    try {
      const r = await airspace.plan(params.id);
      editing = { plan: r.body, etag: r.etag ?? `"${r.body.version}"` };
    } catch (e) {
      root.replaceChildren(notice('error', `Could not load the plan: ${errorText(e)}. `, h('a', { href: '/plans', 'data-link': true }, 'Back to the plans')));
      return () => undefined;
    }
    if (editing.plan.state !== 'draft') {
      root.replaceChildren(notice('error', `This plan is ${editing.plan.state}: only drafts can be edited. `, h('a', { href: `/plans?state=${editing.plan.state}`, 'data-link': true }, 'Back to the plans')));
      return () => undefined;
    }
    root.replaceChildren();
  }
  const zone = zoneChoice();
  const waypoints: Draft[] = editing
    ? editing.plan.waypoints.map((w) => ({ lat: w.lat, lon: w.lon, alt_m: String(w.alt_m), speed_mps: w.speed_mps === null || w.speed_mps === undefined ? '' : String(w.speed_mps), hold_s: w.hold_s ? String(w.hold_s) : '' }))
    : [];
  let errors: GroupedErrors = { items: new Map(), fields: new Map(), general: [] };

  const wanted = editing?.plan.drone_id ?? query.get('drone_id');
  // A plan keeps its drone: editing a draft cannot move it to another one.
  const droneSelect = h('select', { id: 'plan-drone', name: 'drone_id', required: true, disabled: !!editing, title: editing ? 'A plan keeps its drone; create a new plan for another drone' : null });
  const fillDrones = () => {
    const drones = fleet.list().filter((s) => s.drone).sort((a, b) => a.drone!.name.localeCompare(b.drone!.name));
    const keep = droneSelect.value || wanted;
    droneSelect.replaceChildren(
      ...(drones.length ? [] : [h('option', { value: '' }, fleet.loaded ? 'No drones: register one first' : 'Loading drones…')]),
      ...drones.map((s) => h('option', { value: s.id, selected: s.id === keep }, `${s.drone!.name} (${s.drone!.serial}) · max ${fmt.metres(s.drone!.max_altitude_m, 0)}, ${fmt.speed(s.drone!.max_speed_mps, 0)}`)));
    return drones.length;
  };
  const unsubscribe = fillDrones() > 0 && fleet.loaded ? () => undefined : fleet.subscribe((u) => { if (u.listChanged) fillDrones(); });
  const name = h('input', { id: 'plan-name', name: 'name', type: 'text', value: editing?.plan.name ?? `Plan ${toInputValue(Date.now(), zone).replace('T', ' ')} ${zoneLabel(zone)}`, required: true });
  const startAt = editing ? Date.parse(editing.plan.planned_start) : Date.now() + 60 * 60_000;
  const endAt = editing ? Date.parse(editing.plan.planned_end) : Date.now() + 120 * 60_000;
  const start = h('input', { id: 'plan-start', name: 'planned_start', type: 'datetime-local', value: toInputValue(startAt, zone) });
  const end = h('input', { id: 'plan-end', name: 'planned_end', type: 'datetime-local', value: toInputValue(endAt, zone) });
  const authorization = h('input', { id: 'plan-authorization', name: 'authorization_ref', type: 'text', value: editing?.plan.authorization_ref ?? '', autocomplete: 'off', 'data-testid': 'plan-authorization' });
  const title = h('h1', {}, editing ? `Edit draft: ${editing.plan.name}` : 'New flight plan');
  const fieldErr = (field: string) => h('span', { class: 'field-error', role: 'alert', 'data-field': field });
  const fieldErrors = { drone_id: fieldErr('drone_id'), name: fieldErr('name'), planned_start: fieldErr('planned_start'), planned_end: fieldErr('planned_end'), authorization_ref: fieldErr('authorization_ref'), waypoints: fieldErr('waypoints') };
  const general = h('div', { class: 'general-errors', role: 'alert' });
  const list = h('ol', { class: 'waypoints', 'data-testid': 'waypoints' });
  const saveDraft = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'save-draft' }, editing ? 'Save draft' : 'Save as draft');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'submit-plan' }, 'Save and submit');
  const addCentre = h('button', { type: 'button', class: 'btn btn-small btn-secondary' }, 'Add waypoint at map centre');
  const mapEl = h('div', { class: 'map', 'data-testid': 'plan-map', 'aria-label': 'Map: click to add a waypoint' });
  const airspacePanel = h('div', {});

  const form = h('form', { class: 'plan-form', novalidate: true, 'aria-label': editing ? 'Edit a draft flight plan' : 'New flight plan', 'data-testid': 'plan-form' },
    title,
    h('label', { for: 'plan-drone' }, 'Drone'), droneSelect, fieldErrors.drone_id,
    h('label', { for: 'plan-name' }, 'Name'), name, fieldErrors.name,
    h('div', { class: 'row times' },
      h('div', {}, h('label', { for: 'plan-start' }, `Planned start (${zoneLabel(zone)})`), start, fieldErrors.planned_start),
      h('div', {}, h('label', { for: 'plan-end' }, `Planned end (${zoneLabel(zone)})`), end, fieldErrors.planned_end)),
    h('p', { class: 'hint' }, 'Times are in ', h('strong', {}, zoneLabel(zone)), '; change the zone under Settings.'),
    h('label', { for: 'plan-authorization' }, 'Authorization reference (optional)'), authorization, fieldErrors.authorization_ref,
    h('p', { class: 'hint' }, 'Needed to cross restricted airspace, e.g. the permit number.'),
    h('h2', {}, 'Waypoints'),
    h('p', { class: 'hint' }, 'Click the map to add a waypoint; drag a numbered marker to move it. Altitudes are metres above the take-off point; leave speed empty for the default cruise speed.'),
    h('div', {}, addCentre), fieldErrors.waypoints, list, airspacePanel, general,
    h('div', { class: 'row' }, submit, saveDraft, h('a', { href: '/plans', 'data-link': true, class: 'btn btn-secondary' }, 'Cancel')),
  );
  root.append(h('div', { class: 'editor-page' }, h('div', { class: 'map-wrap' }, mapEl), form));

  const selected = fleet.drones.get(droneSelect.value);
  const center: [number, number] = selected?.point ? [selected.point.lat, selected.point.lon] : selected?.drone?.home ? [selected.drone.home.lat, selected.drone.home.lon] : [47.3769, 8.5417];
  const base = createBaseMap(mapEl, center, 15);
  new DroneLayer({ only: () => {
    const s = fleet.drones.get(droneSelect.value);
    return s?.point ? [s] : [];
  } }).addTo(base.map);
  const fences = new FenceLayer(base.map);
  void fences.load();
  window.__nimbus.fenceLayer = fences;
  window.__nimbus.map = base.map;
  const air = new PlanAirspace(base.map, base.renderer);
  air.setWarnings(editing?.plan.warnings);
  airspacePanel.append(air.panel);
  const route = L.polyline([], { color: '#0050d0', weight: 3, dashArray: '6 4', renderer: base.renderer }).addTo(base.map);
  const markers = L.layerGroup().addTo(base.map);

  const renderMap = () => {
    route.setLatLngs(waypoints.map((w) => [w.lat, w.lon]));
    air.render(waypoints);
    markers.clearLayers();
    waypoints.forEach((w, i) => {
      const bad = errors.items.has(i);
      const m = L.marker([w.lat, w.lon], {
        draggable: true,
        keyboard: false,
        title: `Waypoint ${i + 1}`,
        icon: L.divIcon({ className: `wp-icon${bad ? ' wp-bad' : ''}`, html: String(i + 1), iconSize: [24, 24] }),
      });
      m.on('dragend', () => {
        const ll = m.getLatLng();
        w.lat = ll.lat;
        w.lon = ll.lng;
        air.routeChanged();
        render();
      });
      markers.addLayer(m);
    });
  };

  const renderList = () => {
    list.replaceChildren(...waypoints.map((w, i) => {
      const errs = errors.items.get(i);
      const input = (key: 'alt_m' | 'speed_mps' | 'hold_s', label: string, unit: string) => {
        const id = `wp-${i}-${key}`;
        const msg = errs?.get(key);
        const el = h('input', { id, type: 'number', step: 'any', value: w[key], inputmode: 'decimal', 'data-testid': `wp-${key}`, 'aria-invalid': msg ? 'true' : null, 'aria-describedby': msg ? `${id}-err` : null });
        el.addEventListener('input', () => { w[key] = el.value; });
        if (msg) messages.push(h('span', { class: 'field-error', id: `${id}-err`, 'data-testid': 'wp-error', 'data-field': key }, `${label}: ${msg.join('; ')}`));
        return h('div', { class: 'wp-field' }, h('label', { for: id }, `${label} (${unit})`), el);
      };
      const messages: HTMLElement[] = [];
      const whole = errs?.get('') ?? [];
      const other = [...(errs?.entries() ?? [])].filter(([k]) => !['', 'alt_m', 'speed_mps', 'hold_s'].includes(k)).map(([k, v]) => `${k}: ${v.join('; ')}`);
      return h('li', { class: `wp${errs || air.hasLegProblem(i) ? ' wp-has-error' : ''}`, 'data-index': String(i) },
        h('div', { class: 'row spread' },
          h('strong', {}, `Waypoint ${i + 1}`),
          h('span', { class: 'muted small' }, `${fmt.coordinate(w.lat)}, ${fmt.coordinate(w.lon)}`),
          h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove waypoint ${i + 1}`, onclick: () => { waypoints.splice(i, 1); errors = { items: new Map(), fields: errors.fields, general: errors.general }; air.routeChanged(); render(); } }, 'Remove')),
        h('div', { class: 'row' }, input('alt_m', 'Altitude', 'm'), input('speed_mps', 'Speed', 'm/s'), input('hold_s', 'Hold', 's')),
        ...messages,
        ...[...whole, ...other].map((m) => h('span', { class: 'field-error', 'data-testid': 'wp-error' }, m)),
        ...air.legNotes(i, waypoints.length));
    }));
    if (waypoints.length === 0) list.append(h('li', { class: 'muted' }, 'No waypoints yet: click the map (at least 2).'));
  };

  const renderErrors = () => {
    for (const [k, el] of Object.entries(fieldErrors)) el.textContent = (errors.fields.get(k) ?? []).join('; ');
    general.replaceChildren(...errors.general.map((m) => h('p', { class: 'field-error' }, m)));
  };

  const render = () => {
    renderMap();
    renderList();
    renderErrors();
  };

  const addWaypoint = (ll: L.LatLng) => {
    const prev = waypoints[waypoints.length - 1];
    waypoints.push({ lat: Number(ll.lat.toFixed(6)), lon: Number(ll.lng.toFixed(6)), alt_m: prev?.alt_m ?? '50', speed_mps: prev?.speed_mps ?? '', hold_s: '' });
    air.routeChanged();
    render();
  };
  base.map.on('click', (e: L.LeafletMouseEvent) => addWaypoint(e.latlng));
  // Keyboard users: pan the map with the arrow keys, then add the centre.
  addCentre.addEventListener('click', () => addWaypoint(base.map.getCenter()));
  render();
  if (waypoints.length > 0) base.map.fitBounds(waypoints.map((w) => [w.lat, w.lon] as [number, number]), { padding: [40, 40], maxZoom: 16, animate: false });

  const body = (): AirNewPlan => ({
    drone_id: droneSelect.value,
    name: name.value.trim(),
    planned_start: new Date(fromInputValue(start.value, zone)).toISOString(),
    planned_end: new Date(fromInputValue(end.value, zone)).toISOString(),
    waypoints: waypoints.map((w): Waypoint => ({ lat: w.lat, lon: w.lon, alt_m: Number(w.alt_m), speed_mps: optionalNumber(w.speed_mps), hold_s: optionalNumber(w.hold_s) })),
    authorization_ref: authorization.value.trim() || null,
  });

  /** Saves the plan: creates it, or changes the draft (`If-Match`). */
  const save = async (): Promise<AirPlan> => {
    const b = body();
    if (!editing) {
      const plan: AirPlan = await api.createPlan(b);
      editing = { plan, etag: `"${plan.version}"` };
      return plan;
    }
    const patch: AirPlanUpdate = { name: b.name, planned_start: b.planned_start, planned_end: b.planned_end, waypoints: b.waypoints, authorization_ref: b.authorization_ref };
    const r = await api.updatePlan(editing.plan.id, editing.etag, patch);
    editing = { plan: r.body, etag: r.etag ?? `"${r.body.version}"` };
    return r.body;
  };

  const send = async (andSubmit: boolean) => {
    errors = { items: new Map(), fields: new Map(), general: [] };
    if (!droneSelect.value) errors.fields.set('drone_id', ['Pick a drone. If the list is empty, wait for the fleet to load or register a drone.']);
    if (Number.isNaN(fromInputValue(start.value, zone))) errors.fields.set('planned_start', ['Enter a start time.']);
    if (Number.isNaN(fromInputValue(end.value, zone))) errors.fields.set('planned_end', ['Enter an end time.']);
    if (errors.fields.size) {
      render();
      return;
    }
    submit.disabled = saveDraft.disabled = true;
    air.clear();
    let saved: AirPlan | null = null;
    const wasNew = !editing;
    try {
      saved = await save();
      air.setWarnings(saved.warnings);
      const final: AirPlan = andSubmit ? await api.transition(saved.id, 'submit') : saved;
      const advisory = final.warnings?.length ? ` (advisory: ${final.warnings.map((v) => v.geofence_name).join(', ')})` : '';
      toast(`${andSubmit ? `Plan "${saved.name}" submitted for approval` : `Plan "${saved.name}" saved as draft`}${advisory}`);
      navigate(`/plans?state=${andSubmit ? 'submitted' : 'draft'}`);
    } catch (e) {
      // An airspace problem is shown at its legs and in the airspace panel (`air.show`).
      if (air.show(e)) errors.general = [];
      else if (e instanceof ApiError && e.status === 412 && editing) {
        errors.general = ['Someone else changed this draft meanwhile. Reload the page to see their version, then apply your change again.'];
      } else if (e instanceof ApiError && e.code === 'not_editable') {
        errors.general = ['This plan is no longer a draft (it was submitted or cancelled meanwhile), so it cannot be edited.'];
      } else if (e instanceof ApiError && e.fieldErrors.length) errors = groupFieldErrors(e.fieldErrors);
      else errors.general = [errorText(e)];
      if (saved && wasNew) {
        // The editor now edits the saved draft: fix the errors here and submit again.
        history.replaceState(null, '', `/plans/${saved.id}/edit`);
        title.textContent = `Edit draft: ${saved.name}`;
        droneSelect.disabled = true;
      }
      if (saved && andSubmit) errors.general.unshift('The plan was saved as a draft, but submitting it failed: fix what is marked below and submit again.');
      render();
      list.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
    } finally {
      submit.disabled = saveDraft.disabled = false;
    }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); void send(true); });
  saveDraft.addEventListener('click', () => void send(false));
  droneSelect.addEventListener('change', () => {
    const s = fleet.drones.get(droneSelect.value);
    const p = s?.point ?? s?.drone?.home;
    if (p) base.map.panTo([p.lat, p.lon]);
  });

  return () => {
    unsubscribe();
    fences.remove();
    if (window.__nimbus.fenceLayer === fences) window.__nimbus.fenceLayer = null;
    if (window.__nimbus.map === base.map) window.__nimbus.map = null;
    base.destroy();
  };
}
