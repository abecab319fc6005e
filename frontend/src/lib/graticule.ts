/** Lat/lon grid lines for the plain (offline) map background. */

/** Grid steps in degrees, from coarse to fine. */
const STEPS = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];

/** The coarsest step that gives at least `minLines` lines across `span` degrees. */
export function graticuleStep(spanDeg: number, minLines = 4): number {
  for (const step of STEPS) {
    if (spanDeg / step >= minLines) return step;
  }
  return STEPS[STEPS.length - 1]!;
}

export interface Bounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

export interface Graticule {
  step: number;
  /** Latitudes of the horizontal lines (parallels). */
  lats: number[];
  /** Longitudes of the vertical lines (meridians). */
  lons: number[];
}

function round(v: number, step: number): number {
  const digits = Math.max(0, Math.ceil(-Math.log10(step)) + 1);
  return Number(v.toFixed(digits));
}

function multiples(from: number, to: number, step: number, limit: number): number[] {
  const out: number[] = [];
  const eps = step * 1e-9;
  for (let i = Math.ceil((from - eps) / step); i * step <= to + eps && out.length < limit; i++) out.push(round(i * step, step));
  return out;
}

/** Lines for the view `b`, clamped to valid coordinates; at most `limit` per direction. */
export function graticuleLines(b: Bounds, minLines = 4, limit = 200): Graticule {
  const south = Math.max(-90, b.south);
  const north = Math.min(90, b.north);
  const west = Math.max(-180, b.west);
  const east = Math.min(180, b.east);
  const step = graticuleStep(Math.min(north - south, east - west), minLines);
  return { step, lats: multiples(south, north, step, limit), lons: multiples(west, east, step, limit) };
}

/** A label for a grid line: `47.38° N`, `8.54° E`. */
export function gridLabel(value: number, axis: 'lat' | 'lon', step: number): string {
  const digits = Math.max(0, Math.ceil(-Math.log10(step)));
  const hemi = axis === 'lat' ? (value >= 0 ? 'N' : 'S') : value >= 0 ? 'E' : 'W';
  return `${Math.abs(value).toFixed(digits)}° ${hemi}`;
}
