/**
 * Geofences: a cursor-paginated list filtered by kind, with edit and delete for operators and
 * admins, GeoJSON export for everyone, and import of a GeoJSON or ED-269 file (the created
 * count and every part the server could not take are shown).
 */
import { airspace, GEOFENCE_KINDS, type Geofence, type GeofenceKind, type ImportResult } from '../api/airspace';
import { fenceStyle } from '../lib/colors';
import { ApiError } from '../lib/problem';
import { bandSummary, scheduleSummary } from '../lib/schedule';
import { invalidateFences } from '../map/fence-layer';
import { session } from '../session';
import { downloadBlob, errorText, h, notice, toast } from '../ui';

const PAGE = 50;

export function kindChip(kind: string): HTMLElement {
  return h('span', { class: `fence-kind fence-${kind}`, 'data-kind': kind },
    h('span', { class: 'swatch', style: `background:${fenceStyle(kind).color}`, 'aria-hidden': 'true' }), kind);
}

function fenceRow(f: Geofence, reload: () => void): HTMLElement {
  const canWrite = session.can('operator');
  const del = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Delete geofence ${f.name}`, 'data-testid': 'delete-fence', onclick: async () => {
    if (!window.confirm(`Delete the geofence "${f.name}"? Plans are no longer checked against it.`)) return;
    try {
      await airspace.deleteGeofence(f.id);
      invalidateFences();
      toast(`Geofence "${f.name}" deleted`);
      reload();
    } catch (e) {
      toast(`Not deleted: ${errorText(e)}`, 'error');
    }
  } }, 'Delete');
  return h('tr', { 'data-fence-id': f.id, 'data-kind': f.kind },
    h('td', {}, canWrite ? h('a', { href: `/geofences/${f.id}/edit`, 'data-link': true }, f.name) : f.name,
      h('div', { class: 'muted small' }, f.circle ? `circle, radius ${f.circle.radius_m.toFixed(0)} m` : f.geometry?.type === 'MultiPolygon' ? `${f.geometry.coordinates.length} polygons` : 'polygon')),
    h('td', {}, kindChip(f.kind)),
    h('td', {}, bandSummary(f.lower_m, f.upper_m)),
    h('td', {}, f.datum.toUpperCase()),
    h('td', {}, scheduleSummary(f.schedule)),
    h('td', {}, f.active ? 'yes' : h('span', { class: 'muted' }, 'no')),
    canWrite ? h('td', { class: 'actions' },
      h('a', { href: `/geofences/${f.id}/edit`, 'data-link': true, class: 'btn btn-small btn-secondary', 'aria-label': `Edit geofence ${f.name}` }, 'Edit'), del) : null);
}

function importReport(r: ImportResult): HTMLElement {
  return h('div', { class: `notice ${r.unsupported.length ? 'notice-info' : 'notice-empty'}`, role: 'status', 'data-testid': 'import-result' },
    h('p', {}, h('strong', {}, `Imported ${r.created} geofence${r.created === 1 ? '' : 's'}.`),
      r.unsupported.length ? ` ${r.unsupported.length} part${r.unsupported.length === 1 ? ' was' : 's were'} not taken:` : ''),
    r.unsupported.length ? h('ul', { 'data-testid': 'import-unsupported' }, ...r.unsupported.map((u) =>
      h('li', {}, `Feature ${u.feature + 1} (index ${u.feature})`, u.field ? `, ${u.field}` : '', `: ${u.reason}`))) : null);
}

function importExport(reload: () => void): HTMLElement {
  const result = h('div', { 'aria-live': 'polite' });
  const exportBtn = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'export-fences' }, 'Export GeoJSON');
  exportBtn.addEventListener('click', async () => {
    exportBtn.disabled = true;
    try {
      downloadBlob(await airspace.exportGeofences(), `geofences-${new Date().toISOString().slice(0, 10)}.geojson`);
    } catch (e) {
      toast(`Export failed: ${errorText(e)}`, 'error');
    } finally {
      exportBtn.disabled = false;
    }
  });
  if (!session.can('operator')) return h('div', { class: 'row' }, exportBtn);
  const file = h('input', { id: 'fence-import', type: 'file', accept: '.geojson,.json,application/geo+json,application/json', class: 'visually-hidden', 'data-testid': 'import-file' });
  file.addEventListener('change', async () => {
    const chosen = file.files?.[0];
    file.value = '';
    if (!chosen) return;
    result.replaceChildren(notice('loading', `Importing ${chosen.name}…`));
    let document: unknown;
    try {
      document = JSON.parse(await chosen.text());
    } catch {
      result.replaceChildren(notice('error', `${chosen.name} is not a JSON file: choose a GeoJSON FeatureCollection or an ED-269 document.`));
      return;
    }
    try {
      const r = await airspace.importGeofences(document);
      invalidateFences();
      result.replaceChildren(importReport(r));
      reload();
    } catch (e) {
      const fields = e instanceof ApiError ? e.fieldErrors : [];
      result.replaceChildren(notice('error', `Nothing imported from ${chosen.name}: ${errorText(e)}`,
        fields.length ? h('ul', {}, ...fields.map((f) => h('li', {}, `${f.field}: ${f.message}`))) : null));
    }
  });
  return h('div', {},
    h('div', { class: 'row' }, exportBtn, h('label', { for: file.id, class: 'btn btn-secondary', tabindex: 0, onkeydown: (e: Event) => {
      if ((e as KeyboardEvent).key === 'Enter' || (e as KeyboardEvent).key === ' ') { e.preventDefault(); file.click(); }
    } }, 'Import GeoJSON or ED-269…'), file),
    result);
}

export function geofencesView(root: HTMLElement, _p: Record<string, string>, query: URLSearchParams): () => void {
  let kind = (query.get('kind') ?? '') as GeofenceKind | '';
  const list = h('div', {});
  const more = h('div', {});
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Filter by kind' });
  const renderTabs = () => tabs.replaceChildren(...['', ...GEOFENCE_KINDS].map((k) =>
    h('button', { type: 'button', class: 'tab', 'aria-pressed': String(k === kind), onclick: () => {
      kind = k as GeofenceKind | '';
      history.replaceState(null, '', k ? `/geofences?kind=${k}` : '/geofences');
      renderTabs();
      void load();
    } }, k || 'all')));
  renderTabs();
  root.append(h('div', { class: 'page' },
    h('div', { class: 'row spread' }, h('h1', {}, 'Geofences'),
      session.can('operator') ? h('a', { href: '/geofences/new', 'data-link': true, class: 'btn btn-primary', 'data-testid': 'new-fence' }, 'New geofence') : h('span', { class: 'hint' }, 'Viewers can look, not change.')),
    importExport(() => void load()),
    tabs, list, more));

  let alive = true;
  let loading = 0;
  const load = async (cursor?: string, items: Geofence[] = []) => {
    const token = cursor ? loading : ++loading;
    if (!cursor) list.replaceChildren(notice('loading', 'Loading geofences…'));
    try {
      const page = await airspace.geofences({ kind: kind || undefined, limit: PAGE, cursor });
      if (!alive || token !== loading) return;
      const all = [...items, ...page.items];
      list.replaceChildren(all.length ? h('div', { class: 'table-scroll' }, h('table', { class: 'table', 'data-testid': 'fence-table' },
        h('thead', {}, h('tr', {}, ...['Name', 'Kind', 'Band', 'Datum', 'Schedule', 'Active'].map((t) => h('th', {}, t)), session.can('operator') ? h('th', {}, 'Actions') : null)),
        h('tbody', {}, ...all.map((f) => fenceRow(f, () => void load())))))
        : notice('empty', kind ? `No ${kind} geofences. Pick another kind above.` : session.can('operator')
          ? 'No geofences yet. Draw one with "New geofence", or import a GeoJSON or ED-269 file.' : 'No geofences yet.'));
      more.replaceChildren(page.next_cursor
        ? h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void load(page.next_cursor!, all) }, 'Load more')
        : '');
    } catch (e) {
      if (!alive) return;
      list.replaceChildren(notice('error', `Could not load geofences: ${errorText(e)}. `, h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => void load() }, 'Try again')));
    }
  };
  void load();
  return () => { alive = false; };
}
