import { describe, expect, it } from 'vitest';
import { chartData, distanceFlown, RANGES, SERIES } from '../src/lib/chart-data';

const stats = (avg: number) => ({ avg, min: avg - 1, max: avg + 1 });
const bucket = (start: string, alt: number, lat = 47.37, distance_m = 0) => ({
  start,
  count: 10,
  alt_m: stats(alt),
  speed_mps: stats(5),
  battery_pct: stats(80),
  heading_deg: stats(90),
  first_lat: lat,
  first_lon: 8.54,
  first_ts: start,
  last_lat: lat + 0.001,
  last_lon: 8.54,
  last_ts: start,
  distance_m,
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

  it('adds up the distance flown inside buckets and the segments that join them', () => {
    // Each bucket flies 0.001° north inside it (111.2 m, its distance_m); the next one
    // starts 0.001° further north: three buckets are five such segments.
    const segment = (0.001 * Math.PI) / 180 * 6_371_008.8;
    const buckets = [0, 1, 2].map((i) => bucket(`2026-11-23T10:0${i}:00Z`, 50, 47 + 0.002 * i, segment));
    expect(distanceFlown(buckets)).toBeCloseTo(5 * segment, 6);
    expect(distanceFlown([])).toBe(0);
  });

  it('labels each series with its unit', () => {
    expect(SERIES.map((s) => s.unit)).toEqual(['m', 'm/s', '%']);
  });
});
