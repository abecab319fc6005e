/** History charts (altitude, speed, battery) from the downsampled telemetry API. */
import uPlot from 'uplot';
import type { Series } from '../lib/chart-data';
import { clockIn, dateTimeIn, zoneChoice, zoneLabel } from '../lib/time';

export function makeChart(container: HTMLElement, series: Series, data: uPlot.AlignedData, width: number): uPlot {
  const fmt = (v: number | null) => (v === null || v === undefined ? '—' : `${v.toFixed(1)} ${series.unit}`);
  const zone = zoneChoice();
  const opts: uPlot.Options = {
    title: `${series.title} (${series.unit})`,
    width,
    height: 180,
    series: [
      { label: `Time (${zoneLabel(zone)})`, value: (_u, ts) => (ts === null ? '—' : `${dateTimeIn(ts * 1000, zone).slice(0, 10)} ${clockIn(ts * 1000, zone, true)}`) },
      { label: 'average', stroke: series.color, width: 2, value: (_u, v) => fmt(v) },
      { label: 'min', stroke: series.color + '66', width: 1, dash: [4, 4], value: (_u, v) => fmt(v) },
      { label: 'max', stroke: series.color + '66', width: 1, dash: [4, 4], value: (_u, v) => fmt(v) },
    ],
    // 24-hour times in the chosen zone, the same as everywhere else (uPlot's default is local 3:16pm).
    axes: [{ values: (_u, ticks) => ticks.map((t) => clockIn(t * 1000, zone)), label: `Time (${zoneLabel(zone)})`, labelSize: 20 }, { label: series.unit, values: (_u, ticks) => ticks.map((v) => `${v} ${series.unit}`), size: 70 }],
    scales: { x: { time: true } },
  };
  return new uPlot(opts, data, container);
}
