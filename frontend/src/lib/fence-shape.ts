/**
 * Shapes drawn on the map ⇄ the API's geofence shapes. Leaflet nests `{lat, lng}` points
 * (a ring, rings of a polygon, or polygons of rings); GeoJSON nests `[lon, lat]` positions
 * and closes each ring by repeating its first position.
 */
import type { Circle, FenceGeometry, Position } from '../api/airspace';

export interface LatLngLike {
  lat: number;
  lng: number;
}
type Nested = LatLngLike | Nested[];

/** The API takes exactly one of the two. */
export type FenceShape = { geometry: FenceGeometry } | { circle: Circle };

/** 7 decimals are about 1 cm: more only lengthens the request. */
const round = (v: number, digits = 7) => Number(v.toFixed(digits));

function isPoint(v: Nested): v is LatLngLike {
  return !Array.isArray(v);
}

/** A closed GeoJSON ring; consecutive repeated points are dropped. */
export function ringOf(points: readonly LatLngLike[]): Position[] {
  const ring: Position[] = [];
  for (const p of points) {
    const pos: Position = [round(p.lng), round(p.lat)];
    const last = ring[ring.length - 1];
    if (!last || last[0] !== pos[0] || last[1] !== pos[1]) ring.push(pos);
  }
  const first = ring[0];
  const last = ring[ring.length - 1];
  if (first && last && ring.length > 1 && (first[0] !== last[0] || first[1] !== last[1])) ring.push([first[0], first[1]]);
  return ring;
}

/** The GeoJSON geometry of a Leaflet polygon's `getLatLngs()`: a Polygon, or a MultiPolygon
 * when Leaflet holds several. */
export function geometryOf(latlngs: readonly Nested[]): FenceGeometry {
  const first = latlngs[0];
  if (first === undefined || isPoint(first)) return { type: 'Polygon', coordinates: [ringOf(latlngs as LatLngLike[])] };
  const second = first[0];
  if (second === undefined || isPoint(second)) return { type: 'Polygon', coordinates: (latlngs as LatLngLike[][]).map(ringOf) };
  return { type: 'MultiPolygon', coordinates: (latlngs as LatLngLike[][][]).map((poly) => poly.map(ringOf)) };
}

/** Leaflet's `[lat, lon]` nesting of a geometry, without the closing repeats. */
export function latLngsOf(g: FenceGeometry): Array<Array<[number, number]>> | Array<Array<Array<[number, number]>>> {
  const ring = (r: Position[]): Array<[number, number]> => {
    const open = r.length > 1 && r[0]![0] === r[r.length - 1]![0] && r[0]![1] === r[r.length - 1]![1] ? r.slice(0, -1) : r;
    return open.map(([lon, lat]) => [lat, lon]);
  };
  return g.type === 'Polygon' ? g.coordinates.map(ring) : g.coordinates.map((poly) => poly.map(ring));
}

/** A circle for the API, the radius to a decimetre. */
export function circleOf(centre: LatLngLike, radius_m: number): Circle {
  return { lat: round(centre.lat), lon: round(centre.lng), radius_m: round(radius_m, 1) };
}

/** The vertex a field error names, `geometry.coordinates[r][v]` (a MultiPolygon's polygon
 * first: `[p][r][v]`), as `{ polygon, ring, vertex }`; null for other paths. */
export function vertexOfPath(path: string, multi = false): { polygon: number; ring: number; vertex: number } | null {
  const m = /^geometry\.coordinates((?:\[\d+\])+)$/.exec(path);
  if (!m) return null;
  const idx = [...m[1]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
  if (multi && idx.length === 3) return { polygon: idx[0]!, ring: idx[1]!, vertex: idx[2]! };
  if (!multi && idx.length === 2) return { polygon: 0, ring: idx[0]!, vertex: idx[1]! };
  return null;
}

/** The position a vertex error names, from the geometry that was sent. */
export function positionAt(g: FenceGeometry, at: { polygon: number; ring: number; vertex: number }): Position | null {
  const rings = g.type === 'Polygon' ? g.coordinates : g.coordinates[at.polygon];
  return rings?.[at.ring]?.[at.vertex] ?? null;
}

/** `corner 4`, or `corner 2 of hole 1` (ring 0 is the outline, the others are holes), with
 * `of polygon 2` for a MultiPolygon's later polygons: people count from 1. */
export function vertexLabel(at: { polygon: number; ring: number; vertex: number }): string {
  return `corner ${at.vertex + 1}${at.ring > 0 ? ` of hole ${at.ring}` : ''}${at.polygon > 0 ? ` of polygon ${at.polygon + 1}` : ''}`;
}
