/**
 * A plan's conflicts (`/plans/:id/conflicts`, GET /flight-plans/{id}/conflicts): the fences
 * its legs cross and the plans it meets, listed and on a map with the geofences, its route
 * (legs in trouble red, advisory amber) and the other plans' routes; a submitted plan with
 * conflicts can be approved by an admin with an override reason.
 */
import L from 'leaflet';
import { airspace, type AirPlan, type PlanConflicts } from '../api/airspace';
import * as fmt from '../lib/format';
import { ApiError } from '../lib/problem';
import { createBaseMap } from '../map/base';
import { FenceLayer } from '../map/fence-layer';
import { navigate } from '../router';
import { session } from '../session';
import { errorText, h, notice } from '../ui';
import { overrideForm } from './plan-approve';
import { conflictList, drawLegs, drawOtherPlans, violationList } from './plan-airspace';

export async function planConflictsView(root: HTMLElement, params: Record<string, string>): Promise<() => void> {
  const id = params.id!;
  const back = h('a', { href: '/plans', 'data-link': true }, 'Back to the plans');
  root.append(notice('loading', 'Checking the plan…'));
  let plan: AirPlan;
  let found: PlanConflicts;
  try {
    const [p, c] = await Promise.all([airspace.plan(id), airspace.planConflicts(id)]);
    plan = p.body;
    found = c;
  } catch (e) {
    root.replaceChildren(notice('error', e instanceof ApiError && e.status === 404 ? 'This plan does not exist (or belongs to another organisation). ' : `Could not check the plan: ${errorText(e)}. `, back));
    return () => undefined;
  }
  const refused = found.geofences.filter((v) => v.kind !== 'advisory');
  const advisory = [...found.geofences.filter((v) => v.kind === 'advisory'), ...(plan.warnings ?? [])]
    .filter((v, i, all) => all.findIndex((w) => w.geofence_id === v.geofence_id && w.leg_index === v.leg_index) === i);

  const mapEl = h('div', { class: 'map', 'data-testid': 'conflicts-map' });
  const section = (title: string, testid: string, ...body: Array<Node | string | null>) =>
    h('section', { class: 'card', 'data-testid': testid }, h('h2', {}, title), ...body);
  root.replaceChildren(h('div', { class: 'page' },
    h('p', {}, back),
    h('h1', {}, `Conflicts: ${plan.name}`),
    h('p', { class: 'muted' }, `${plan.state} · ${fmt.dateTime(plan.planned_start)} – ${fmt.dateTime(plan.planned_end)} · ${plan.waypoints.length} waypoints`,
      plan.state === 'draft' && session.can('operator') ? h('span', {}, ' · ', h('a', { href: `/plans/${plan.id}/edit`, 'data-link': true }, 'Edit the draft')) : null),
    h('div', { class: 'mini-map-wrap conflicts-map-wrap' }, mapEl),
    h('div', { class: 'grid-2' },
      section('Geofences', 'conflict-fences',
        refused.length ? violationList(refused) : h('p', { class: 'muted' }, 'No leg crosses a fence it may not.'),
        advisory.length ? h('h3', {}, 'Advisory') : null,
        advisory.length ? violationList(advisory, 'advisories') : null),
      section('Other plans', 'conflict-plans',
        found.plans.length ? conflictList(found.plans) : h('p', { class: 'muted' }, 'No other plan meets this one.'),
        found.plans.length && plan.state === 'submitted' && session.can('admin')
          ? overrideForm(plan, found.plans, () => navigate('/plans?state=approved'))
          : null)),
  ));

  const base = createBaseMap(mapEl, plan.waypoints[0] ? [plan.waypoints[0].lat, plan.waypoints[0].lon] : undefined, 15);
  const fences = new FenceLayer(base.map);
  void fences.load();
  const points = plan.waypoints.map((w) => ({ lat: w.lat, lon: w.lon }));
  const route = L.polyline(points.map((p) => [p.lat, p.lon] as [number, number]), { color: '#0b57d0', weight: 3, renderer: base.renderer }).addTo(base.map);
  plan.waypoints.forEach((w, i) => L.circleMarker([w.lat, w.lon], { radius: 6, color: '#0b57d0', fillColor: '#fff', fillOpacity: 1, renderer: base.renderer })
    .bindTooltip(`Waypoint ${i + 1}: ${fmt.metres(w.alt_m, 0)}`).addTo(base.map));
  const problems = L.layerGroup().addTo(base.map);
  drawLegs(problems, base.renderer, points, refused, advisory);
  const others = L.layerGroup().addTo(base.map);
  void drawOtherPlans(others, base.renderer, found.plans);
  if (points.length) base.map.fitBounds(route.getBounds(), { padding: [30, 30], maxZoom: 17, animate: false });

  return () => {
    fences.remove();
    base.destroy();
  };
}
