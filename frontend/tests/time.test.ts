import { describe, expect, it } from 'vitest';
import * as fmt from '../src/lib/format';
import { clockIn, dateTimeIn, fromInputValue, toInputValue, zoneLabel } from '../src/lib/time';
import { worldSize, worldX, worldY } from '../src/lib/mercator';
import { clusterLabel, clusterRadius } from '../src/lib/cluster-style';

const t = Date.parse('2026-11-23T15:16:09Z');

describe('one time zone everywhere', () => {
  it('formats in UTC with a 24-hour clock and names the zone', () => {
    expect(dateTimeIn(t, 'utc')).toBe('2026-11-23 15:16');
    expect(clockIn(t, 'utc')).toBe('15:16');
    expect(clockIn(t, 'utc', true)).toBe('15:16:09');
    expect(fmt.dateTime('2026-11-23T15:16:09Z', 'utc')).toBe('2026-11-23 15:16 UTC');
    expect(fmt.dateTime(t, 'utc')).toBe('2026-11-23 15:16 UTC');
    expect(zoneLabel('utc')).toBe('UTC');
    expect(fmt.dateTime(null)).toBe('—');
  });

  it('reads the editor inputs back in the same zone', () => {
    const rounded = Date.parse('2026-11-23T15:16:00Z');
    expect(toInputValue(t, 'utc')).toBe('2026-11-23T15:16');
    expect(fromInputValue('2026-11-23T15:16', 'utc')).toBe(rounded);
    expect(fromInputValue(toInputValue(rounded, 'local'), 'local')).toBe(rounded);
    expect(Number.isNaN(fromInputValue('', 'utc'))).toBe(true);
  });

  it('says "never reported" for a drone without a point', () => {
    expect(fmt.lastSeen(0)).toBe('never reported');
    expect(fmt.lastSeen(t - 12_000, t)).toBe('12 s ago');
  });
});

describe('map drawing maths', () => {
  it('projects like Leaflet (Web Mercator, 256-px tiles)', () => {
    const size = worldSize(1);
    expect(size).toBe(512);
    expect(worldX(0, size)).toBe(256);
    expect(worldY(0, size)).toBeCloseTo(256, 9);
    expect(worldX(-180, size)).toBe(0);
    expect(worldY(85.0511287798, size)).toBeCloseTo(0, 3);
    // Zurich at zoom 13, as Leaflet's EPSG:3857 (R = 6378137 m, scale 0.5 / πR) gives it.
    expect(worldX(8.5417, worldSize(13))).toBeCloseTo(1098335.0, 0);
    expect(worldY(47.3769, worldSize(13))).toBeCloseTo(734392.6, 0);
  });

  it('labels and sizes clusters by count', () => {
    expect([7, 999, 1000, 1250, 9999, 12_400].map(clusterLabel)).toEqual(['7', '999', '1k', '1.3k', '10k', '12k']);
    expect(clusterRadius(10)).toBeLessThan(clusterRadius(10_000));
  });
});
