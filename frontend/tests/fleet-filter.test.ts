import { describe, expect, it } from 'vitest';
import { bandOf, comparator, matches, NO_FILTER, sortKey, type SortRow } from '../src/lib/fleet-filter';

const now = Date.parse('2026-11-23T10:00:00Z');
const drone = (name: string, status: string, battery: number | null, alt: number, ageS: number | null): SortRow & { search: string } => ({
  sortName: sortKey(name),
  search: name.toLowerCase(),
  drone: { status },
  point: battery === null ? null : { battery_pct: battery, alt_m: alt, speed_mps: 5 },
  t: ageS === null ? 0 : now - ageS * 1000,
});
const f = (row: ReturnType<typeof drone>) => ({ search: row.search, status: row.drone!.status, battery: row.point?.battery_pct ?? Number.NaN, t: row.t });

describe('fleet filters', () => {
  const rows = [drone('Courier 2', 'active', 15, 40, 5), drone('Courier 10', 'maintenance', 60, 0, 600), drone('Survey', 'active', null, 0, null)];

  it('bands batteries as the legend does', () => {
    expect([10, 20, 49.9, 50, Number.NaN].map(bandOf)).toEqual(['low', 'mid', 'mid', 'high', '']);
  });

  it('filters by text, status, battery and reporting', () => {
    const pick = (filter: Partial<typeof NO_FILTER>) => rows.filter((r) => matches({ ...NO_FILTER, ...filter }, f(r), now)).map((r) => r.sortName);
    expect(pick({})).toHaveLength(3);
    expect(pick({ text: 'courier' })).toHaveLength(2);
    expect(pick({ status: 'maintenance' })).toEqual([sortKey('Courier 10')]);
    expect(pick({ battery: 'low' })).toEqual([sortKey('Courier 2')]);
    expect(pick({ online: 'online' })).toEqual([sortKey('Courier 2')]);
    expect(pick({ online: 'offline' })).toEqual([sortKey('Courier 10'), sortKey('Survey')]);
  });

  it('sorts names naturally and puts unknown values last both ways', () => {
    const names = (key: Parameters<typeof comparator>[0], dir: 'asc' | 'desc') => [...rows].sort(comparator(key, dir)).map((r) => r.sortName);
    expect(names('name', 'asc')).toEqual([sortKey('Courier 2'), sortKey('Courier 10'), sortKey('Survey')]);
    expect(names('battery', 'asc')).toEqual([sortKey('Courier 2'), sortKey('Courier 10'), sortKey('Survey')]);
    expect(names('battery', 'desc')).toEqual([sortKey('Courier 10'), sortKey('Courier 2'), sortKey('Survey')]);
    expect(names('seen', 'desc')[0]).toBe(sortKey('Courier 2'));
    expect(names('seen', 'asc').at(-1)).toBe(sortKey('Survey'));
    expect(names('status', 'asc')).toEqual([sortKey('Courier 2'), sortKey('Survey'), sortKey('Courier 10')]);
  });
});
