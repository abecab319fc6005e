import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/api/alerts';
import { AlertIndex } from '../src/lib/alert-index';
import { worstSeverity } from '../src/lib/alerts';

const alert = (id: string, drone_id: string, over: Partial<Alert> = {}): Alert => ({
  id, drone_id, flight_plan_id: null, kind: 'battery_low', severity: 'warning', state: 'open',
  first_seen: '2026-11-23T14:00:00Z', last_seen: '2026-11-23T14:00:00Z', count: 1, point: null, details: { type: 'none' },
  acknowledged_at: null, acknowledged_by: null, acknowledge_note: null, resolved_at: null, resolved_by: null, resolve_note: null,
  version: 1, ...over,
});

describe('badge severity per drone', () => {
  it('is the worst severity of the open alerts', () => {
    expect(worstSeverity(['info', 'critical', 'warning'])).toBe('critical');
    expect(worstSeverity([])).toBeNull();
    const index = new AlertIndex();
    index.apply(alert('a', 'd1', { severity: 'info' }));
    expect(index.severityOf('d1')).toBe('info');
    index.apply(alert('b', 'd1', { severity: 'critical', kind: 'geofence_breach' }));
    index.apply(alert('c', 'd1', { severity: 'warning', kind: 'link_lost' }));
    expect(index.severityOf('d1')).toBe('critical');
    expect(index.severityOf('d2')).toBeNull();
    expect(index.counts()).toEqual({ info: 1, warning: 1, critical: 1 });
    expect([...index.critical]).toEqual(['d1']);
  });

  it('drops an alert once acknowledged or resolved, and falls back to the next worst', () => {
    const index = new AlertIndex();
    index.apply(alert('a', 'd1', { severity: 'warning' }));
    index.apply(alert('b', 'd1', { severity: 'critical' }));
    expect(index.apply(alert('b', 'd1', { severity: 'critical', state: 'acknowledged', version: 2 }))).toBe(true);
    expect(index.severityOf('d1')).toBe('warning');
    expect(index.critical.size).toBe(0);
    index.apply(alert('a', 'd1', { state: 'resolved', version: 2 }));
    expect(index.severityOf('d1')).toBeNull();
    expect(index.size).toBe(0);
    expect(index.counts()).toEqual({ info: 0, warning: 0, critical: 0 });
  });

  it('follows a severity change (battery going critical)', () => {
    const index = new AlertIndex();
    index.apply(alert('a', 'd1'));
    index.apply(alert('a', 'd1', { severity: 'critical', version: 2 }));
    expect(index.severityOf('d1')).toBe('critical');
    expect(index.counts()).toEqual({ info: 0, warning: 0, critical: 1 });
  });

  it('ignores a replayed older version, also after the alert closed', () => {
    const index = new AlertIndex();
    index.apply(alert('a', 'd1', { severity: 'critical' }));
    index.apply(alert('a', 'd1', { severity: 'critical', state: 'resolved', version: 2 }));
    expect(index.apply(alert('a', 'd1', { severity: 'critical', version: 1 }))).toBe(false);
    expect(index.severityOf('d1')).toBeNull();
    expect(index.apply(alert('a', 'd1', { severity: 'critical', state: 'resolved', version: 2 }))).toBe(false);
  });

  it('a reload replaces what closed meanwhile, but keeps what arrived during it', () => {
    const index = new AlertIndex();
    index.apply(alert('gone', 'd1', { severity: 'critical' }));
    index.apply(alert('kept', 'd2'));
    const mark = index.mark();
    index.apply(alert('live', 'd3', { severity: 'critical' }));
    index.replace([alert('kept', 'd2'), alert('new', 'd4', { severity: 'info' })], mark);
    expect(index.severityOf('d1')).toBeNull();
    expect(index.severityOf('d2')).toBe('warning');
    expect(index.severityOf('d3')).toBe('critical');
    expect(index.severityOf('d4')).toBe('info');
    expect(index.size).toBe(3);
  });
});
