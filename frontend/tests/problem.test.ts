import { describe, expect, it } from 'vitest';
import { fieldPathAncestors, groupFieldErrors, parseFieldPath } from '../src/lib/problem';

describe('problem+json field paths', () => {
  it('splits list item paths', () => {
    expect(parseFieldPath('waypoints[2].alt_m')).toEqual({ list: 'waypoints', index: 2, field: 'alt_m' });
    expect(parseFieldPath('waypoints[0]')).toEqual({ list: 'waypoints', index: 0, field: null });
    expect(parseFieldPath('planned_start')).toEqual({ list: null, index: null, field: 'planned_start' });
  });

  it('groups errors by waypoint and field', () => {
    const g = groupFieldErrors([
      { field: 'waypoints[1].alt_m', code: 'above_ceiling', message: 'must be at most 120 m' },
      { field: 'waypoints[1].speed_mps', code: 'too_fast', message: 'too fast' },
      { field: 'waypoints[3]', code: 'x', message: 'bad waypoint' },
      { field: 'planned_start', code: 'start_in_past', message: 'in the past' },
      { field: 'waypoints', code: 'too_few', message: 'at least 2' },
      { field: 'other[0].x', code: 'x', message: 'elsewhere' },
    ]);
    expect(g.items.get(1)!.get('alt_m')).toEqual(['must be at most 120 m']);
    expect(g.items.get(1)!.get('speed_mps')).toEqual(['too fast']);
    expect(g.items.get(3)!.get('')).toEqual(['bad waypoint']);
    expect(g.items.has(0)).toBe(false);
    expect(g.fields.get('planned_start')).toEqual(['in the past']);
    expect(g.fields.get('waypoints')).toEqual(['at least 2']);
    expect(g.general).toEqual(['other[0].x: elsewhere']);
  });

  it('lists a path and the paths containing it, longest first', () => {
    expect(fieldPathAncestors('schedule.weekly[0].start')).toEqual(['schedule.weekly[0].start', 'schedule.weekly[0]', 'schedule.weekly', 'schedule']);
    expect(fieldPathAncestors('geometry.coordinates[0][3]')).toEqual(['geometry.coordinates[0][3]', 'geometry.coordinates[0]', 'geometry.coordinates', 'geometry']);
    expect(fieldPathAncestors('waypoints[2].alt_m')).toEqual(['waypoints[2].alt_m', 'waypoints[2]', 'waypoints']);
    expect(fieldPathAncestors('name')).toEqual(['name']);
    expect(fieldPathAncestors('')).toEqual([]);
  });
});
