/**
 * A new geofence (`/geofences/new`) or an existing one (`/geofences/:id/edit`, `PATCH` with
 * `If-Match`): its shape drawn on the map (a polygon, closed by clicking its first point, or
 * a circle), its kind, altitude band and optional schedule. The API's field errors are shown
 * at their fields; an error at a polygon corner (`geometry.coordinates[0][3]`) also marks
 * that corner on the map.
 */
import L from 'leaflet';
import { airspace, DATUMS, GEOFENCE_KINDS, type Geofence, type GeofenceKind, type NewGeofence, type Datum } from '../api/airspace';
import { fleet } from '../fleet-store';
import { FormErrors } from '../form-errors';
import { fenceStyle } from '../lib/colors';
import { positionAt, vertexLabel, vertexOfPath, type FenceShape } from '../lib/fence-shape';
import { ApiError } from '../lib/problem';
import { createBaseMap } from '../map/base';
import { FenceLayer, invalidateFences } from '../map/fence-layer';
import { navigate } from '../router';
import { session } from '../session';
import { errorText, h, notice, toast } from '../ui';
import { scheduleFields } from './schedule-fields';

const FIELDS = ['name', 'kind', 'lower_m', 'upper_m', 'datum', 'active', 'geometry', 'circle'];

/** Field errors at polygon corners say which corner. */
function withCorners(e: unknown, multi: boolean): unknown {
  if (!(e instanceof ApiError) || !e.problem?.errors) return e;
  return new ApiError(e.status, {
    ...e.problem,
    errors: e.problem.errors.map((f) => {
      const at = vertexOfPath(f.field, multi);
      return at ? { ...f, message: `${vertexLabel(at)}: ${f.message}` } : f;
    }),
  });
}

export async function geofenceEditorView(root: HTMLElement, params: Record<string, string>): Promise<() => void> {
  const back = () => h('a', { href: '/geofences', 'data-link': true }, 'Back to the geofences');
  if (!session.can('operator')) {
    root.append(notice('error', 'Only operators and admins can create and edit geofences. ', back()));
    return () => undefined;
  }
  root.append(notice('loading', params.id ? 'Loading the geofence…' : 'Loading the map tools…'));
  let editing: { fence: Geofence; etag: string } | null = null;
  let editor: typeof import('../map/shape-editor');
  try {
    const [tools, loaded] = await Promise.all([import('../map/shape-editor'), params.id ? airspace.geofence(params.id) : Promise.resolve(null)]);
    editor = tools;
    if (loaded) editing = { fence: loaded.body, etag: loaded.etag ?? `"${loaded.body.version}"` };
  } catch (e) {
    root.replaceChildren(notice('error', e instanceof ApiError && e.status === 404 ? 'This geofence does not exist (or was deleted). ' : `Could not open the editor: ${errorText(e)}. `, back()));
    return () => undefined;
  }
  root.replaceChildren();
  const f = editing?.fence;

  const form = h('form', { class: 'plan-form fence-form', novalidate: true, 'aria-label': f ? `Edit geofence ${f.name}` : 'New geofence', 'data-testid': 'fence-form' });
  const errors = new FormErrors(form, FIELDS);
  const name = h('input', { id: 'fence-name', name: 'name', type: 'text', value: f?.name ?? '', maxlength: 100, required: true });
  const kind = h('select', { id: 'fence-kind', name: 'kind' }, ...GEOFENCE_KINDS.map((k) => h('option', { value: k, selected: k === (f?.kind ?? 'prohibited') }, k)));
  const lower = h('input', { id: 'fence-lower', name: 'lower_m', type: 'number', step: 'any', inputmode: 'decimal', value: String(f?.lower_m ?? 0) });
  const upper = h('input', { id: 'fence-upper', name: 'upper_m', type: 'number', step: 'any', inputmode: 'decimal', value: String(f?.upper_m ?? 120) });
  const datum = h('select', { id: 'fence-datum', name: 'datum' }, ...DATUMS.map((d) => h('option', { value: d, selected: d === (f?.datum ?? 'agl') }, d === 'agl' ? 'AGL (above ground)' : 'AMSL (above sea level)')));
  const active = h('input', { id: 'fence-active', name: 'active', type: 'checkbox', checked: f?.active ?? true });
  const schedule = scheduleFields(f?.schedule ?? null, errors);
  const drawPolygon = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'draw-polygon' }, 'Draw polygon');
  const drawCircle = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-testid': 'draw-circle' }, 'Draw circle');
  const cancelDraw = h('button', { type: 'button', class: 'btn btn-small btn-secondary', hidden: true }, 'Stop drawing');
  const shapeState = h('p', { class: 'hint', 'data-testid': 'shape-state', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-fence' }, f ? 'Save changes' : 'Create geofence');
  const del = f ? h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'delete-fence' }, 'Delete') : null;
  const mapEl = h('div', { class: 'map', 'data-testid': 'fence-map', 'aria-label': 'Map: draw the geofence' });

  form.append(
    h('h1', {}, f ? `Edit geofence: ${f.name}` : 'New geofence'),
    h('label', { for: name.id }, 'Name'), name, errors.slot('name'),
    h('label', { for: kind.id }, 'Kind'), kind, errors.slot('kind'),
    h('p', { class: 'hint' }, 'Prohibited: plans may not cross. Restricted: only with an authorization reference. Advisory: a warning.'),
    h('div', { class: 'row times' },
      h('div', {}, h('label', { for: lower.id }, 'Lower limit (m)'), lower, errors.slot('lower_m')),
      h('div', {}, h('label', { for: upper.id }, 'Upper limit (m)'), upper, errors.slot('upper_m')),
      h('div', {}, h('label', { for: datum.id }, 'Measured'), datum, errors.slot('datum'))),
    h('label', { class: 'radio' }, active, ' Active (plans are checked against it)'), errors.slot('active'),
    h('h2', {}, 'Shape'),
    h('div', { class: 'row' }, drawPolygon, drawCircle, cancelDraw),
    shapeState, errors.slot('geometry'), errors.slot('circle'),
    schedule.el,
    errors.general,
    h('div', { class: 'row' }, save, h('a', { href: '/geofences', 'data-link': true, class: 'btn btn-secondary' }, 'Cancel'), del),
  );
  root.append(h('div', { class: 'editor-page' }, h('div', { class: 'map-wrap' }, mapEl), form));

  const b = fleet.bounds;
  const base = createBaseMap(mapEl, b ? [(b.south + b.north) / 2, (b.west + b.east) / 2] : undefined, 14, editor.geomanMapOptions());
  window.__nimbus.map = base.map;
  const others = new FenceLayer(base.map);
  void others.load(f?.id);
  const cornerMarks = L.layerGroup().addTo(base.map);
  const styleOf = () => ({ ...fenceStyle(kind.value), weight: 2.5, fillOpacity: 0.2 });
  const shapes = new editor.ShapeEditor(base.map, styleOf());
  const describe = () => {
    const s = shapes.get();
    shapeState.textContent = shapes.drawing ? 'Drawing: click the map for each corner, then click the first corner again (or press Enter) to close the polygon; for a circle click the centre, then the edge.'
      : !s ? 'No shape yet: draw a polygon or a circle on the map.'
        : 'circle' in s ? `Circle, radius ${s.circle.radius_m.toFixed(0)} m. Drag its edge or centre marker to change it.`
          : `Polygon with ${s.geometry.coordinates[0]!.length - 1} corners. Drag a corner to move it; drag a middle marker to add one.`;
  };
  shapes.onChange = () => { cornerMarks.clearLayers(); describe(); };
  shapes.onMode = (mode) => { cancelDraw.hidden = mode === null; describe(); };
  if (f) {
    shapes.set(f.circle ? { circle: f.circle } : f.geometry ? { geometry: f.geometry } : null);
    const bounds = shapes.bounds();
    if (bounds) base.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 17, animate: false });
  }
  describe();
  drawPolygon.addEventListener('click', () => shapes.draw('Polygon'));
  drawCircle.addEventListener('click', () => shapes.draw('Circle'));
  cancelDraw.addEventListener('click', () => shapes.cancel());
  kind.addEventListener('change', () => shapes.setStyle(styleOf()));

  const markCorners = (e: unknown, sent: FenceShape) => {
    cornerMarks.clearLayers();
    if (!(e instanceof ApiError) || !('geometry' in sent)) return;
    for (const fe of e.fieldErrors) {
      const at = vertexOfPath(fe.field, sent.geometry.type === 'MultiPolygon');
      const pos = at && positionAt(sent.geometry, at);
      if (at && pos) L.circleMarker([pos[1], pos[0]], { radius: 9, color: '#a51d1d', weight: 3, fill: false }).bindTooltip(`${vertexLabel(at)}: ${fe.message}`).addTo(cornerMarks);
    }
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const shape = shapes.get();
    const sched = schedule.value();
    if (!shape || typeof sched === 'string') {
      if (!shape) errors.slot('geometry').textContent = shapes.drawing ? 'Finish the shape first: click its first corner again.' : 'Draw a polygon or a circle on the map first.';
      if (typeof sched === 'string') errors.slot('schedule').textContent = sched;
      return;
    }
    const number = (input: HTMLInputElement) => (input.value.trim() === '' ? Number.NaN : Number(input.value));
    const body: NewGeofence = {
      name: name.value.trim(), kind: kind.value as GeofenceKind, lower_m: number(lower), upper_m: number(upper),
      datum: datum.value as Datum, active: active.checked, schedule: sched, ...shape,
    };
    save.disabled = true;
    try {
      if (editing) {
        const r = await airspace.updateGeofence(editing.fence.id, editing.etag, body);
        editing = { fence: r.body, etag: r.etag ?? `"${r.body.version}"` };
      } else await airspace.createGeofence(body);
      invalidateFences();
      toast(`Geofence "${body.name}" ${f ? 'saved' : 'created'}`);
      navigate('/geofences');
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        errors.general.textContent = 'Someone else changed this geofence meanwhile. Reload the page to see their version, then apply your change again.';
      } else {
        errors.show(withCorners(err, 'geometry' in shape && shape.geometry.type === 'MultiPolygon'), f ? 'Not saved: ' : 'Not created: ');
        markCorners(err, shape);
      }
    } finally {
      save.disabled = false;
    }
  });
  del?.addEventListener('click', async () => {
    if (!f || !window.confirm(`Delete the geofence "${f.name}"? Plans are no longer checked against it.`)) return;
    try {
      await airspace.deleteGeofence(f.id);
      invalidateFences();
      toast(`Geofence "${f.name}" deleted`);
      navigate('/geofences');
    } catch (err) {
      errors.show(err, 'Not deleted: ');
    }
  });
  name.focus();

  return () => {
    shapes.destroy();
    others.remove();
    if (window.__nimbus.map === base.map) window.__nimbus.map = null;
    base.destroy();
  };
}
