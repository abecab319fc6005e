import { describe, expect, it } from 'vitest';
import { circleOf, geometryOf, latLngsOf, positionAt, ringOf, vertexLabel, vertexOfPath } from '../src/lib/fence-shape';

const square = [{ lat: 47, lng: 8 }, { lat: 47, lng: 8.01 }, { lat: 47.01, lng: 8.01 }, { lat: 47.01, lng: 8 }];

describe('drawn shapes as GeoJSON', () => {
  it('closes a ring and writes [lon, lat]', () => {
    expect(ringOf(square)).toEqual([[8, 47], [8.01, 47], [8.01, 47.01], [8, 47.01], [8, 47]]);
  });

  it('keeps a ring that is already closed and drops repeated points', () => {
    const ring = ringOf([...square.slice(0, 2), square[1]!, ...square.slice(2), square[0]!]);
    expect(ring).toEqual([[8, 47], [8.01, 47], [8.01, 47.01], [8, 47.01], [8, 47]]);
  });

  it('rounds to 7 decimals', () => {
    expect(ringOf([{ lat: 47.123456789, lng: 8.987654321 }])).toEqual([[8.9876543, 47.1234568]]);
  });

  it('reads Leaflet nesting: a ring, rings of a polygon, polygons', () => {
    expect(geometryOf(square)).toEqual({ type: 'Polygon', coordinates: [ringOf(square)] });
    const hole = [{ lat: 47.004, lng: 8.004 }, { lat: 47.004, lng: 8.006 }, { lat: 47.006, lng: 8.006 }];
    expect(geometryOf([square, hole])).toEqual({ type: 'Polygon', coordinates: [ringOf(square), ringOf(hole)] });
    expect(geometryOf([[square], [hole]])).toEqual({ type: 'MultiPolygon', coordinates: [[ringOf(square)], [ringOf(hole)]] });
  });

  it('round-trips through Leaflet [lat, lon] without the closing point', () => {
    const g = geometryOf(square);
    expect(latLngsOf(g)).toEqual([[[47, 8], [47, 8.01], [47.01, 8.01], [47.01, 8]]]);
    expect(geometryOf((latLngsOf(g) as Array<Array<[number, number]>>).map((r) => r.map(([lat, lng]) => ({ lat, lng }))))).toEqual(g);
  });

  it('makes a circle with its radius to a decimetre', () => {
    expect(circleOf({ lat: 48.1, lng: 11.5 }, 500.04)).toEqual({ lat: 48.1, lon: 11.5, radius_m: 500 });
  });
});

describe('field errors at polygon corners', () => {
  it('reads ring and vertex from the path', () => {
    expect(vertexOfPath('geometry.coordinates[0][3]')).toEqual({ polygon: 0, ring: 0, vertex: 3 });
    expect(vertexOfPath('geometry.coordinates[1][2][0]', true)).toEqual({ polygon: 1, ring: 2, vertex: 0 });
    expect(vertexOfPath('geometry.coordinates[0]')).toBeNull();
    expect(vertexOfPath('geometry')).toBeNull();
    expect(vertexOfPath('name')).toBeNull();
  });

  it('names the corner as people count', () => {
    expect(vertexLabel({ polygon: 0, ring: 0, vertex: 3 })).toBe('corner 4');
    expect(vertexLabel({ polygon: 1, ring: 2, vertex: 0 })).toBe('corner 1 of hole 2 of polygon 2');
  });

  it('finds the position named in the geometry that was sent', () => {
    const g = geometryOf(square);
    expect(positionAt(g, { polygon: 0, ring: 0, vertex: 2 })).toEqual([8.01, 47.01]);
    expect(positionAt(g, { polygon: 0, ring: 3, vertex: 0 })).toBeNull();
  });
});
