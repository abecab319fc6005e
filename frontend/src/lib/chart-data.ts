/** History chart data: time ranges with their bucket widths, and buckets → uPlot columns. */
import type { components } from '../api/schema';

type Bucket = components['schemas']['BucketResponse'];

export const RANGES = [
  { label: 'Last 15 minutes', minutes: 15, interval: '10s' },
  { label: 'Last hour', minutes: 60, interval: '1m' },
  { label: 'Last 6 hours', minutes: 360, interval: '5m' },
  { label: 'Last 24 hours', minutes: 1440, interval: '15m' },
] as const;

export interface Series {
  title: string;
  unit: string;
  pick: (b: Bucket) => { avg: number; min: number; max: number };
  color: string;
}

export const SERIES: Series[] = [
  { title: 'Altitude', unit: 'm', pick: (b) => b.alt_m, color: '#1b5fbf' },
  { title: 'Speed', unit: 'm/s', pick: (b) => b.speed_mps, color: '#7a3fb0' },
  { title: 'Battery', unit: '%', pick: (b) => b.battery_pct, color: '#1f7a3a' },
];

/** Columns for uPlot: time (s), average, minimum, maximum. */
export function chartData(buckets: readonly Bucket[], pick: Series['pick']): [number[], number[], number[], number[]] {
  const t: number[] = [];
  const avg: number[] = [];
  const min: number[] = [];
  const max: number[] = [];
  for (const b of buckets) {
    const s = pick(b);
    t.push(Date.parse(b.start) / 1000);
    avg.push(s.avg);
    min.push(s.min);
    max.push(s.max);
  }
  return [t, avg, min, max];
}

/** The mean Earth radius the server measures distances flown on (geo's haversine, metres). */
const EARTH_RADIUS_M = 6_371_008.8;

function groundDistanceM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const half = (d: number) => Math.sin((d * rad) / 2) ** 2;
  const a = half(lat2 - lat1) + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * half(lon2 - lon1);
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(a));
}

/**
 * Distance flown over a range of buckets (in time order), in metres: each bucket's own
 * `distance_m` plus the segments from one bucket's last point to the next one's first.
 */
export function distanceFlown(buckets: readonly Bucket[]): number {
  let total = 0;
  let previous: Bucket | undefined;
  for (const b of buckets) {
    total += b.distance_m;
    if (previous) total += groundDistanceM(previous.last_lat, previous.last_lon, b.first_lat, b.first_lon);
    previous = b;
  }
  return total;
}
