/**
 * Web Mercator pixels, as Leaflet's default CRS computes them (`map.project`): the canvas
 * layer projects thousands of points per draw without allocating a `Point` for each.
 */

const MAX_LAT = 85.0511287798;

/** Pixels of the whole world at `zoom` (256 at zoom 0). */
export function worldSize(zoom: number): number {
  return 256 * 2 ** zoom;
}

export function worldX(lon: number, size: number): number {
  return ((lon + 180) / 360) * size;
}

export function worldY(lat: number, size: number): number {
  const s = Math.sin((Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180);
  return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size;
}

/** Metres on the ground per pixel at `lat` and `zoom` (Leaflet's sphere, radius 6,378,137 m). */
export function metresPerPixel(lat: number, zoom: number): number {
  return (2 * Math.PI * 6_378_137 * Math.cos((lat * Math.PI) / 180)) / worldSize(zoom);
}
