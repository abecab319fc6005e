/** History charts (altitude, speed, battery) from the downsampled telemetry API. */
import uPlot from 'uplot';
import type { Bucket } from '../api/client';

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

export function makeChart(container: HTMLElement, series: Series, data: uPlot.AlignedData, width: number): uPlot {
  const fmt = (v: number | null) => (v === null || v === undefined ? '—' : `${v.toFixed(1)} ${series.unit}`);
  const opts: uPlot.Options = {
    title: `${series.title} (${series.unit})`,
    width,
    height: 180,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    series: [
      { label: 'Time (UTC)' },
      { label: 'average', stroke: series.color, width: 2, value: (_u, v) => fmt(v) },
      { label: 'min', stroke: series.color + '66', width: 1, dash: [4, 4], value: (_u, v) => fmt(v) },
      { label: 'max', stroke: series.color + '66', width: 1, dash: [4, 4], value: (_u, v) => fmt(v) },
    ],
    axes: [{}, { label: series.unit, values: (_u, ticks) => ticks.map((v) => `${v} ${series.unit}`), size: 70 }],
    scales: { x: { time: true } },
  };
  return new uPlot(opts, data, container);
}
