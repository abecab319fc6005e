import { describe, expect, it } from 'vitest';
import { graticuleLines, graticuleStep, gridLabel } from '../src/lib/graticule';

describe('graticule', () => {
  it('picks a step that gives a few lines for the view', () => {
    expect(graticuleStep(360)).toBe(30);
    expect(graticuleStep(1)).toBe(0.2);
    expect(graticuleStep(0.1)).toBe(0.02);
    expect(graticuleStep(0.000001)).toBe(0.0001);
  });

  it('lists the multiples of the step inside the view', () => {
    const g = graticuleLines({ south: 47.3, west: 8.4, north: 47.45, east: 8.7 });
    expect(g.step).toBe(0.02);
    expect(g.lats[0]).toBe(47.3);
    expect(g.lats.at(-1)).toBe(47.44);
    expect(g.lons[0]).toBe(8.4);
    expect(g.lons.at(-1)).toBe(8.7);
    expect(g.lats.every((v) => v >= 47.3 && v <= 47.45)).toBe(true);
  });

  it('clamps to valid coordinates and bounds the line count', () => {
    const g = graticuleLines({ south: -200, west: -400, north: 200, east: 400 });
    expect(Math.min(...g.lats)).toBeGreaterThanOrEqual(-90);
    expect(Math.max(...g.lons)).toBeLessThanOrEqual(180);
    expect(g.lons.length).toBeLessThanOrEqual(200);
  });

  it('labels lines with hemisphere', () => {
    expect(gridLabel(47.38, 'lat', 0.02)).toBe('47.38° N');
    expect(gridLabel(-8.5, 'lon', 0.5)).toBe('8.5° W');
  });
});
