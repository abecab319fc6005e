import { describe, expect, it } from 'vitest';
import { bandWeightPx, middleLatitude } from '../src/lib/corridor';
import { metresPerPixel } from '../src/lib/mercator';

describe('the corridor band on the map', () => {
  it('is twice the buffer wide, in pixels at the zoom', () => {
    // At the equator, zoom 0: the whole earth (40,075 km) on 256 px.
    expect(metresPerPixel(0, 0)).toBeCloseTo(156_543.03, 1);
    const mpp = metresPerPixel(47.37, 16);
    expect(bandWeightPx(50, 47.37, 16)).toBeCloseTo(100 / mpp, 6);
    expect(bandWeightPx(50, 47.37, 17)).toBeCloseTo(2 * bandWeightPx(50, 47.37, 16), 6);
  });

  it('stays visible zoomed out', () => {
    expect(bandWeightPx(50, 47.37, 3)).toBe(2);
  });

  it('takes the scale at the middle of the route', () => {
    expect(middleLatitude([{ lat: 47 }, { lat: 48 }, { lat: 47.2 }])).toBe(47.5);
    expect(middleLatitude([])).toBe(0);
  });
});
