import { describe, expect, it } from 'vitest';
import { bandSummary, dayRanges, scheduleSummary, windowSummary } from '../src/lib/schedule';

describe('geofence schedules in words', () => {
  it('writes runs of three or more days as a range, the rest one by one', () => {
    expect(dayRanges(['mon', 'tue', 'wed', 'thu', 'fri'])).toBe('Mon–Fri');
    expect(dayRanges(['sat', 'sun'])).toBe('Sat, Sun');
    expect(dayRanges(['mon', 'wed', 'fri'])).toBe('Mon, Wed, Fri');
    expect(dayRanges(['fri', 'mon', 'tue', 'wed', 'sun'])).toBe('Mon–Wed, Fri, Sun');
    expect(dayRanges(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).toBe('daily');
  });

  it('marks a window that ends before it starts as running into the next day', () => {
    expect(windowSummary({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' })).toBe('Mon–Fri 08:00–18:00');
    expect(windowSummary({ days: ['fri'], start: '22:00', end: '06:00' })).toBe('Fri 22:00–06:00 (+1 day)');
  });

  it('summarises windows in their zone and the validity in the dashboard zone', () => {
    expect(scheduleSummary(null)).toBe('always');
    expect(scheduleSummary({ valid_from: null, valid_to: null, time_zone: 'UTC', weekly: [] })).toBe('always');
    expect(scheduleSummary({
      valid_from: '2026-06-01T00:00:00Z', valid_to: null, time_zone: 'Europe/Berlin',
      weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' }, { days: ['sat'], start: '09:00', end: '12:00' }],
    }, 'utc')).toBe('Mon–Fri 08:00–18:00, Sat 09:00–12:00 (Europe/Berlin) · from 2026-06-01 00:00 UTC');
    expect(scheduleSummary({ valid_from: '2026-06-01T00:00:00Z', valid_to: '2026-09-30T18:30:00Z', time_zone: 'UTC', weekly: [] }, 'utc'))
      .toBe('2026-06-01 00:00 UTC – 2026-09-30 18:30 UTC');
    expect(scheduleSummary({ valid_from: null, valid_to: '2026-09-30T18:30:00Z', time_zone: '', weekly: [] }, 'utc')).toBe('until 2026-09-30 18:30 UTC');
  });

  it('writes the altitude band with or without its datum', () => {
    expect(bandSummary(0, 120)).toBe('0–120 m');
    expect(bandSummary(30, 150.4, 'amsl')).toBe('30–150 m AMSL');
  });
});
