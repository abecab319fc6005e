/** Airspace problems of a plan in words, and at the legs they name. */
import type { PlanConflict, Violation } from '../api/airspace';
import * as fmt from './format';
import type { ZoneChoice } from './time';

/** `crosses Airport CTR (prohibited) at 80 m`. */
export function violationMessage(v: Violation): string {
  return `crosses ${v.geofence_name} (${v.kind}) at ${fmt.metres(v.alt_m, 0)}`;
}

/** `Leg 2 (waypoint 2 → 3)`: people count waypoints from 1, the API from 0. */
export function legLabel(legIndex: number): string {
  return `Leg ${legIndex + 1} (waypoint ${legIndex + 1} → ${legIndex + 2})`;
}

export interface LegMessages {
  /** Messages by leg index (the leg from waypoints[i] to waypoints[i+1]). */
  legs: Map<number, string[]>;
  /** Violations whose leg the route does not have (it changed meanwhile). */
  other: string[];
}

/** Groups violations by the leg they name, for a route of `waypointCount` waypoints. */
export function messagesByLeg(violations: readonly Violation[], waypointCount: number): LegMessages {
  const out: LegMessages = { legs: new Map(), other: [] };
  for (const v of violations) {
    const msg = violationMessage(v);
    const i = v.leg_index;
    if (!Number.isInteger(i) || i < 0 || i + 1 >= waypointCount) {
      out.other.push(`${v.leg || `leg ${i}`}: ${msg}`);
      continue;
    }
    const have = out.legs.get(i);
    if (have) {
      if (!have.includes(msg)) have.push(msg);
    } else out.legs.set(i, [msg]);
  }
  return out;
}

/** The two ends of leg i, or null when the route has no such leg. */
export function legEnds<T>(waypoints: readonly T[], legIndex: number): [T, T] | null {
  const a = waypoints[legIndex];
  const b = waypoints[legIndex + 1];
  return a !== undefined && b !== undefined && legIndex >= 0 ? [a, b] : null;
}

/** Where two plans meet: `leg 2 meets their leg 4 at 47.37690°, 8.54170°, 60 m`. */
export function conflictWhere(c: PlanConflict): string {
  return `leg ${c.leg_index + 1} meets their leg ${c.other_leg_index + 1} at ${fmt.coordinate(c.lat)}, ${fmt.coordinate(c.lon)}, ${fmt.metres(c.alt_m, 0)}`;
}

/** When two plans meet: `2026-11-23 14:05 UTC – 2026-11-23 14:20 UTC`. */
export function conflictWhen(c: PlanConflict, zone?: ZoneChoice): string {
  return `${fmt.dateTime(c.from, zone)} – ${fmt.dateTime(c.to, zone)}`;
}

/** The plans a list of conflicts names, each once, in order of first mention. */
export function conflictingPlanIds(conflicts: readonly PlanConflict[]): string[] {
  return [...new Set(conflicts.map((c) => c.plan_id))];
}
