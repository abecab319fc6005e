import { describe, expect, it } from 'vitest';
import { chartData, RANGES, SERIES } from '../src/lib/chart-data';

const stats = (avg: number) => ({ avg, min: avg - 1, max: avg + 1 });
const bucket = (start: string, alt: number) => ({
  start,
  count: 10,
  alt_m: stats(alt),
  speed_mps: stats(5),
  battery_pct: stats(80),
  heading_deg: stats(90),
  last_lat: 47.37,
  last_lon: 8.54,
  last_ts: start,
});

describe('history chart data', () => {
  it('turns buckets into time, average, minimum and maximum columns', () => {
    const [t, avg, min, max] = chartData([bucket('2026-11-23T10:00:00Z', 50), bucket('2026-11-23T10:01:00Z', 60)], SERIES[0]!.pick);
    expect(t).toEqual([Date.parse('2026-11-23T10:00:00Z') / 1000, Date.parse('2026-11-23T10:01:00Z') / 1000]);
    expect(avg).toEqual([50, 60]);
    expect(min).toEqual([49, 59]);
    expect(max).toEqual([51, 61]);
  });

  it('keeps every range to a few hundred buckets at most', () => {
    const seconds = (w: string) => Number(w.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[w.slice(-1) as 's' | 'm' | 'h'];
    for (const r of RANGES) expect((r.minutes * 60) / seconds(r.interval)).toBeLessThanOrEqual(360);
  });

  it('labels each series with its unit', () => {
    expect(SERIES.map((s) => s.unit)).toEqual(['m', 'm/s', '%']);
  });
});
