/**
 * A plan's corridor on a map: the path, and a band `lateral_buffer_m` to each side of it,
 * drawn as one translucent stroke with round caps and joins, whose width in pixels follows
 * the zoom. A round-capped stroke of width 2·b is exactly the set of points within b of the
 * path, which is what the monitor checks (`off_corridor`).
 */
import { metresPerPixel } from './mercator';

/** The monitor's default lateral buffer; the API does not say the configured one yet. */
export const DEFAULT_LATERAL_BUFFER_M = 50;

/** The stroke width (px) of a band `bufferM` to each side of a path at `lat`, at `zoom`;
 * at least `minPx`, so that the band stays visible zoomed out. */
export function bandWeightPx(bufferM: number, lat: number, zoom: number, minPx = 2): number {
  const mpp = metresPerPixel(lat, zoom);
  if (!(mpp > 0) || !Number.isFinite(mpp)) return minPx;
  return Math.max(minPx, (2 * bufferM) / mpp);
}

/** The latitude a path's scale is taken at: the middle of its extent. */
export function middleLatitude(points: ReadonlyArray<{ lat: number }>): number {
  if (points.length === 0) return 0;
  let min = Infinity;
  let max = -Infinity;
  for (const p of points) {
    if (p.lat < min) min = p.lat;
    if (p.lat > max) max = p.lat;
  }
  return (min + max) / 2;
}
