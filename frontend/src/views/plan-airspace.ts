/**
 * A plan's airspace problems on its map and in its lists: fences crossed (refused, or
 * advisory warnings) at the leg they name, drawn red (or amber) between its two waypoints,
 * and conflicts with other plans, whose routes are fetched and drawn beside this one.
 * Shared by the plan editor and the conflicts screen.
 */
import L from 'leaflet';
import { airspace, airspaceProblem, type AirspaceProblem, type PlanConflict, type Violation } from '../api/airspace';
import { conflictingPlanIds, conflictWhen, conflictWhere, legEnds, legLabel, messagesByLeg, violationMessage } from '../lib/violations';
import { h } from '../ui';

const LEG_RED = '#d93025';
const LEG_AMBER = '#e8a200';
const OTHER_PLAN = '#7a3fb0';

type LatLon = { lat: number; lon: number };

/** "Leg 2 (waypoint 2 → 3): crosses Airport CTR (prohibited) at 80 m", one item per violation. */
export function violationList(violations: readonly Violation[], testid = 'violations'): HTMLElement {
  return h('ul', { class: 'violations', 'data-testid': testid }, ...violations.map((v) =>
    h('li', { 'data-leg': String(v.leg_index), 'data-kind': v.kind }, `${legLabel(v.leg_index)}: ${violationMessage(v)}`)));
}

/** Each conflicting plan: its name (to its own conflicts), state, where and when. */
export function conflictList(conflicts: readonly PlanConflict[]): HTMLElement {
  return h('ul', { class: 'conflicts', 'data-testid': 'conflict-list' }, ...conflicts.map((c) =>
    h('li', { 'data-plan-id': c.plan_id },
      h('a', { href: `/plans/${c.plan_id}/conflicts`, 'data-link': true }, c.plan_name), ` (${c.state})`,
      h('div', { class: 'small' }, `Where: ${conflictWhere(c)}`),
      h('div', { class: 'small' }, `When: ${conflictWhen(c)}`))));
}

/** Draws the routes of the plans `conflicts` names into `group`, with the meeting points.
 * A route that cannot be read (deleted meanwhile, another organisation) is left out. */
export async function drawOtherPlans(group: L.LayerGroup, renderer: L.Renderer, conflicts: readonly PlanConflict[]): Promise<void> {
  for (const c of conflicts) {
    L.circleMarker([c.lat, c.lon], { renderer, radius: 8, color: OTHER_PLAN, weight: 3, fillColor: '#fff', fillOpacity: 0.9 })
      .bindTooltip(`Meets ${c.plan_name}: ${conflictWhere(c)}`).addTo(group);
  }
  await Promise.all(conflictingPlanIds(conflicts).map(async (id) => {
    try {
      const other = (await airspace.plan(id)).body;
      L.polyline(other.waypoints.map((w) => [w.lat, w.lon] as [number, number]), { renderer, color: OTHER_PLAN, weight: 3, dashArray: '10 6', opacity: 0.85 })
        .bindTooltip(`${other.name} (${other.state})`).addTo(group);
    } catch {
      // The meeting points above still show where.
    }
  }));
}

/** Red (refused) and amber (advisory) legs, with a dot at the first point inside each fence. */
export function drawLegs(group: L.LayerGroup, renderer: L.Renderer, points: readonly LatLon[], violations: readonly Violation[], warnings: readonly Violation[]): void {
  const draw = (v: Violation, color: string) => {
    const ends = legEnds(points, v.leg_index);
    if (ends) L.polyline(ends.map((p) => [p.lat, p.lon] as [number, number]), { renderer, color, weight: 6, opacity: 0.85 }).bindTooltip(`${legLabel(v.leg_index)}: ${violationMessage(v)}`).addTo(group);
    L.circleMarker([v.lat, v.lon], { renderer, radius: 5, color, fillColor: color, fillOpacity: 1 }).addTo(group);
  };
  warnings.forEach((v) => draw(v, LEG_AMBER));
  violations.forEach((v) => draw(v, LEG_RED));
}

/** The editor's state of airspace problems: what the last answer said, until the route changes. */
export class PlanAirspace {
  /** Conflicts with other plans and the notes that name no leg; placed in the form. */
  readonly panel = h('section', { class: 'airspace-panel', 'aria-live': 'polite', 'data-testid': 'airspace-panel' });
  private violations: Violation[] = [];
  private warnings: Violation[] = [];
  private conflicts: PlanConflict[] = [];
  private problem: AirspaceProblem | null = null;
  private readonly legs = L.layerGroup();
  private readonly others = L.layerGroup();

  constructor(map: L.Map, private readonly renderer: L.Renderer) {
    this.legs.addTo(map);
    this.others.addTo(map);
  }

  /** Takes an error; true when it was an airspace problem (now shown), false otherwise. */
  show(e: unknown): boolean {
    const p = airspaceProblem(e);
    if (!p) return false;
    this.problem = p;
    this.violations = p.violations;
    this.conflicts = p.conflicts;
    this.others.clearLayers();
    if (p.conflicts.length) void drawOtherPlans(this.others, this.renderer, p.conflicts);
    return true;
  }

  setWarnings(warnings: readonly Violation[] | undefined): void {
    this.warnings = [...(warnings ?? [])];
  }

  /** The route changed: leg numbers no longer match what the server said (conflicts with
   * other plans stay listed until the next answer). */
  routeChanged(): void {
    this.violations = [];
    this.warnings = [];
    if (this.problem?.code !== 'plan_conflict') this.problem = null;
  }

  clear(): void {
    this.problem = null;
    this.violations = [];
    this.conflicts = [];
    this.others.clearLayers();
  }

  /** Redraws the legs on the map and the panel, for a route of these points. */
  render(points: readonly LatLon[]): void {
    this.legs.clearLayers();
    drawLegs(this.legs, this.renderer, points, this.violations, this.warnings);
    const off = messagesByLeg(this.violations, points.length).other;
    const heading = this.problem?.code === 'authorization_required'
      ? 'The route crosses restricted airspace: enter an authorization reference, or change the route.'
      : this.problem?.code === 'geofence_violation' ? 'The route crosses prohibited airspace: move the marked legs.'
        : this.problem?.code === 'plan_conflict' ? 'The plan meets other plans in space and time:' : null;
    this.panel.replaceChildren(
      heading ? h('p', { class: 'field-error', 'data-testid': 'airspace-error' }, heading) : '',
      ...off.map((m) => h('p', { class: 'field-error' }, m)),
      this.conflicts.length ? conflictList(this.conflicts) : '',
      this.conflicts.length ? h('p', { class: 'hint' }, 'Their routes are drawn dashed in purple. Change the time or the route, or ask an admin to approve with an override reason.') : '');
  }

  /** The notes at waypoint i's item: problems of the leg from it to the next waypoint. */
  legNotes(i: number, count: number): HTMLElement[] {
    const bad = messagesByLeg(this.violations, count).legs.get(i) ?? [];
    const warn = messagesByLeg(this.warnings, count).legs.get(i) ?? [];
    const to = `Leg to waypoint ${i + 2}`;
    return [
      ...bad.map((m) => h('span', { class: 'field-error leg-error', 'data-testid': 'leg-error', 'data-leg': String(i) }, `${to}: ${m}`)),
      ...warn.map((m) => h('span', { class: 'leg-warning', 'data-testid': 'leg-warning', 'data-leg': String(i) }, `${to} (advisory): ${m}`)),
    ];
  }

  hasLegProblem(i: number): boolean {
    return this.violations.some((v) => v.leg_index === i);
  }
}
