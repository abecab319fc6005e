/** History charts (altitude, speed, battery) from the downsampled telemetry API. */
import uPlot from 'uplot';
import type { Series } from '../lib/chart-data';

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
