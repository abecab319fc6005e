import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/api/alerts';
import { alertHeadline, appendPage, detailsText, filterFromQuery, kindLabel, matchesFilter, mergeAlert, parseAlertEvent, queryOfFilter } from '../src/lib/alerts';

const DRONE = '0190a1b2-0000-7000-8000-000000000001';
const OTHER = '0190a1b2-0000-7000-8000-000000000002';

const alert = (id: string, first_seen: string, over: Partial<Alert> = {}): Alert => ({
  id, drone_id: DRONE, flight_plan_id: null, kind: 'battery_low', severity: 'warning', state: 'open',
  first_seen, last_seen: first_seen, count: 1, point: null, details: { type: 'battery', battery_pct: 12 },
  acknowledged_at: null, acknowledged_by: null, acknowledge_note: null, resolved_at: null, resolved_by: null, resolve_note: null,
  version: 1, ...over,
});

const ids = (items: readonly Alert[]) => items.map((a) => a.id);

describe('alert details in words', () => {
  it('says what each kind of detail found', () => {
    expect(detailsText({ type: 'geofence', geofence_id: 'f', name: 'No-fly A' })).toBe('inside “No-fly A”');
    expect(detailsText({ type: 'corridor', distance_m: 42.4 })).toBe('42 m off corridor');
    expect(detailsText({ type: 'battery', battery_pct: 12.2 })).toBe('battery 12 %');
    expect(detailsText({ type: 'link', silent_s: 7.2 })).toBe('silent 7 s');
    expect(detailsText({ type: 'link', silent_s: 95 })).toBe('silent 1 min 35 s');
  });

  it('says on which side of the band an altitude is', () => {
    expect(detailsText({ type: 'altitude', alt_m: 135, band: [30, 120] })).toBe('at 135 m, above the 30–120 m band');
    expect(detailsText({ type: 'altitude', alt_m: 12.4, band: [30, 120] })).toBe('at 12 m, below the 30–120 m band');
  });

  it('says nothing more when the kind says it all, or the detail is unknown', () => {
    expect(detailsText({ type: 'none' })).toBe('');
    expect(detailsText(null)).toBe('');
    expect(detailsText({ type: 'weather', wind_mps: 20 } as never)).toBe('');
  });

  it('names kinds, also ones a newer server adds', () => {
    expect(kindLabel('geofence_breach')).toBe('Geofence breach');
    expect(kindLabel('solar_flare')).toBe('solar flare');
  });

  it('makes one line for notifications', () => {
    expect(alertHeadline(alert('a', '2026-11-23T14:05:00Z', { severity: 'critical', kind: 'geofence_breach', details: { type: 'geofence', geofence_id: 'f', name: 'No-fly A' } })))
      .toBe('Critical: geofence breach, inside “No-fly A”');
    expect(alertHeadline(alert('a', '2026-11-23T14:05:00Z', { kind: 'unplanned_flight', details: { type: 'none' } }))).toBe('Warning: unplanned flight');
  });
});

describe('filters', () => {
  it('tests live alerts as the API does', () => {
    const a = alert('a', '2026-11-23T14:05:00Z', { state: 'acknowledged', severity: 'warning' });
    expect(matchesFilter(a, { state: 'active' })).toBe(true);
    expect(matchesFilter(a, { state: 'open' })).toBe(false);
    expect(matchesFilter({ ...a, state: 'resolved' }, { state: 'active' })).toBe(false);
    expect(matchesFilter(a, {})).toBe(true);
    expect(matchesFilter(a, { min_severity: 'warning' })).toBe(true);
    expect(matchesFilter(a, { min_severity: 'critical' })).toBe(false);
    expect(matchesFilter(a, { severity: 'info' })).toBe(false);
    expect(matchesFilter(a, { kind: 'battery_low', drone_id: DRONE })).toBe(true);
    expect(matchesFilter(a, { drone_id: OTHER })).toBe(false);
  });

  it('reads and writes the URL: active by default, all states explicitly, bad values dropped', () => {
    expect(filterFromQuery(new URLSearchParams(''))).toEqual({ state: 'active' });
    expect(filterFromQuery(new URLSearchParams('state=all&kind=nope&severity=critical&drone_id=x'))).toEqual({ severity: 'critical' });
    const f = filterFromQuery(new URLSearchParams(`state=resolved&kind=link_lost&min_severity=warning&drone_id=${DRONE}`));
    expect(f).toEqual({ state: 'resolved', kind: 'link_lost', min_severity: 'warning', drone_id: DRONE });
    expect(filterFromQuery(new URLSearchParams(queryOfFilter(f).slice(1)))).toEqual(f);
    expect(queryOfFilter({ state: 'active' })).toBe('');
    expect(queryOfFilter({})).toBe('?state=all');
  });
});

describe('live alert events merged into a list, newest first', () => {
  const list = [alert('c', '2026-11-23T14:10:00Z'), alert('b', '2026-11-23T14:05:00Z'), alert('a', '2026-11-23T14:00:00Z')];

  it('inserts a raised alert at the top', () => {
    const r = mergeAlert(list, alert('d', '2026-11-23T14:20:00Z'), { state: 'active' }, false);
    expect(r.op).toBe('inserted');
    expect(r.op === 'inserted' && r.index).toBe(0);
    expect(ids(r.items)).toEqual(['d', 'c', 'b', 'a']);
    expect(ids(list)).toEqual(['c', 'b', 'a']);
  });

  it('inserts an alert that now matches at its place by first seen', () => {
    const r = mergeAlert(list, alert('x', '2026-11-23T14:07:00Z', { severity: 'critical', version: 3 }), { severity: 'critical' }, true);
    expect(ids(r.items)).toEqual(['c', 'x', 'b', 'a']);
  });

  it('leaves an alert older than the loaded pages to the next page', () => {
    expect(mergeAlert(list, alert('old', '2026-11-23T13:00:00Z'), {}, false).op).toBe('none');
    expect(ids(mergeAlert(list, alert('old', '2026-11-23T13:00:00Z'), {}, true).items)).toEqual(['c', 'b', 'a', 'old']);
  });

  it('does not insert what the filter excludes', () => {
    expect(mergeAlert(list, alert('d', '2026-11-23T14:20:00Z', { drone_id: OTHER }), { drone_id: DRONE }, true).op).toBe('none');
    expect(mergeAlert(list, alert('d', '2026-11-23T14:20:00Z', { state: 'resolved', version: 2 }), { state: 'active' }, true).op).toBe('none');
  });

  it('replaces an updated or acknowledged row in place', () => {
    const r = mergeAlert(list, alert('b', '2026-11-23T14:05:00Z', { count: 4, version: 2 }), { state: 'active' }, false);
    expect(r.op).toBe('replaced');
    expect(r.op === 'replaced' && r.index).toBe(1);
    expect(r.items[1]!.count).toBe(4);
    const acked = mergeAlert(r.items, alert('b', '2026-11-23T14:05:00Z', { state: 'acknowledged', acknowledge_note: 'on it', version: 3 }), { state: 'open' }, false);
    expect(ids(acked.items)).toEqual(['c', 'b', 'a']);
    expect(acked.items[1]!.state).toBe('acknowledged');
  });

  it('keeps a resolved row, with its new state, where it is', () => {
    const r = mergeAlert(list, alert('c', '2026-11-23T14:10:00Z', { state: 'resolved', resolved_by: 'system', version: 2 }), { state: 'active' }, false);
    expect(r.op).toBe('replaced');
    expect(ids(r.items)).toEqual(['c', 'b', 'a']);
    expect(r.items[0]!.state).toBe('resolved');
  });

  it('ignores replays and echoes: the same or an older version', () => {
    const newer = mergeAlert(list, alert('b', '2026-11-23T14:05:00Z', { state: 'acknowledged', version: 2 }), {}, false).items;
    expect(mergeAlert(newer, alert('b', '2026-11-23T14:05:00Z', { state: 'acknowledged', version: 2 }), {}, false).op).toBe('none');
    const replay = mergeAlert(newer, alert('b', '2026-11-23T14:05:00Z', { version: 1 }), {}, false);
    expect(replay.op).toBe('none');
    expect(replay.items[1]!.state).toBe('acknowledged');
  });

  it('appends a page without the alerts that arrived live meanwhile', () => {
    const live = [alert('d', '2026-11-23T14:20:00Z'), ...list];
    const page = [alert('a', '2026-11-23T14:00:00Z', { version: 2, count: 2 }), alert('z', '2026-11-23T13:00:00Z')];
    const next = appendPage(live, page);
    expect(ids(next)).toEqual(['d', 'c', 'b', 'a', 'z']);
    expect(next[3]!.count).toBe(2);
  });

  it('reads live event data, and refuses what it cannot use', () => {
    const data = { change: 'raised', alert: alert('a', '2026-11-23T14:00:00Z') };
    expect(parseAlertEvent(JSON.stringify(data))).toEqual(data);
    expect(parseAlertEvent('{"change":"exploded","alert":{}}')).toBeNull();
    expect(parseAlertEvent(JSON.stringify({ change: 'raised', alert: { id: 'a' } }))).toBeNull();
    expect(parseAlertEvent('not json')).toBeNull();
  });
});
