import { describe, expect, it } from 'vitest';
import type { PlanConflict, Violation } from '../src/api/airspace';
import { conflictingPlanIds, conflictWhen, conflictWhere, legEnds, legLabel, messagesByLeg, violationMessage } from '../src/lib/violations';

const v = (leg_index: number, name = 'Airport CTR', kind: Violation['kind'] = 'prohibited', alt_m = 80): Violation => ({
  geofence_id: `id-${name}`, geofence_name: name, kind, leg: `waypoints[${leg_index}]→[${leg_index + 1}]`, leg_index, lat: 47.1, lon: 8.5, alt_m,
});

const conflict = (plan_id: string): PlanConflict => ({
  plan_id, plan_name: `Plan ${plan_id}`, drone_id: 'd', state: 'approved', leg_index: 1, other_leg_index: 3,
  lat: 47.3769, lon: 8.5417, alt_m: 60.2, from: '2026-11-23T14:05:00Z', to: '2026-11-23T14:20:00Z',
});

describe('violations at their legs', () => {
  it('says which fence, of which kind, at which altitude', () => {
    expect(violationMessage(v(1, 'Airport CTR', 'prohibited', 79.6))).toBe('crosses Airport CTR (prohibited) at 80 m');
    expect(legLabel(1)).toBe('Leg 2 (waypoint 2 → 3)');
  });

  it('groups by the leg from waypoints[i] to waypoints[i+1]', () => {
    const m = messagesByLeg([v(1), v(1, 'Stadium', 'restricted'), v(0, 'Lake')], 3);
    expect(m.legs.get(1)).toEqual(['crosses Airport CTR (prohibited) at 80 m', 'crosses Stadium (restricted) at 80 m']);
    expect(m.legs.get(0)).toEqual(['crosses Lake (prohibited) at 80 m']);
    expect(m.other).toEqual([]);
  });

  it('keeps one message when a fence is named twice for a leg', () => {
    expect(messagesByLeg([v(0), v(0)], 2).legs.get(0)).toEqual(['crosses Airport CTR (prohibited) at 80 m']);
  });

  it('keeps violations of legs the route no longer has apart', () => {
    const m = messagesByLeg([v(2), v(-1)], 3);
    expect(m.legs.size).toBe(0);
    expect(m.other).toEqual(['waypoints[2]→[3]: crosses Airport CTR (prohibited) at 80 m', 'waypoints[-1]→[0]: crosses Airport CTR (prohibited) at 80 m']);
  });

  it('finds the two ends of a leg', () => {
    expect(legEnds(['a', 'b', 'c'], 1)).toEqual(['b', 'c']);
    expect(legEnds(['a', 'b', 'c'], 2)).toBeNull();
    expect(legEnds(['a', 'b'], -1)).toBeNull();
  });
});

describe('conflicts between plans', () => {
  it('says where and when', () => {
    expect(conflictWhere(conflict('p'))).toBe('leg 2 meets their leg 4 at 47.37690°, 8.54170°, 60 m');
    expect(conflictWhen(conflict('p'), 'utc')).toBe('2026-11-23 14:05 UTC – 2026-11-23 14:20 UTC');
  });

  it('names each other plan once', () => {
    expect(conflictingPlanIds([conflict('a'), conflict('b'), conflict('a')])).toEqual(['a', 'b']);
  });
});
