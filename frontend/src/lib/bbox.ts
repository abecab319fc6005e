/** Longitude/latitude boxes: the map's view, the live subscription and the fleet's extent. */

export interface BBox {
  west: number;
  south: number;
  east: number;
  north: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** `b` grown by `ratio` of its width and height on every side, clamped to the globe. */
export function padBBox(b: BBox, ratio: number): BBox {
  const dx = (b.east - b.west) * ratio;
  const dy = (b.north - b.south) * ratio;
  return {
    west: clamp(b.west - dx, -180, 180),
    south: clamp(b.south - dy, -90, 90),
    east: clamp(b.east + dx, -180, 180),
    north: clamp(b.north + dy, -90, 90),
  };
}

/** True when `inner` lies wholly inside `outer`. */
export function containsBBox(outer: BBox, inner: BBox): boolean {
  return inner.west >= outer.west && inner.east <= outer.east && inner.south >= outer.south && inner.north <= outer.north;
}

export function containsPoint(b: BBox, lat: number, lon: number): boolean {
  return lon >= b.west && lon <= b.east && lat >= b.south && lat <= b.north;
}

/** The API's `bbox` parameter: `minLon,minLat,maxLon,maxLat`, rounded to about a metre. */
export function bboxParam(b: BBox): string {
  const r = (v: number) => String(Math.round(v * 1e5) / 1e5);
  return [r(b.west), r(b.south), r(b.east), r(b.north)].join(',');
}

/** The smallest box around every point given, or `null` for none. */
export class BoundsBuilder {
  private b: BBox | null = null;

  add(lat: number, lon: number): void {
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    if (!this.b) this.b = { west: lon, south: lat, east: lon, north: lat };
    else {
      if (lon < this.b.west) this.b.west = lon;
      if (lon > this.b.east) this.b.east = lon;
      if (lat < this.b.south) this.b.south = lat;
      if (lat > this.b.north) this.b.north = lat;
    }
  }

  get bounds(): BBox | null {
    return this.b ? { ...this.b } : null;
  }
}
