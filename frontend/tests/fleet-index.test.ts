import { describe, expect, it } from 'vitest';
import { CLUSTER_MAX_ZOOM, FleetIndex } from '../src/worker/fleet-index';
import { CLUSTER_STRIDE, Field, STRIDE } from '../src/worker/protocol';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function point(id: string, lat: number, lon: number, t = T0, battery = 80) {
  return { drone_id: id, ts: iso(t), lat, lon, alt_m: 50, speed_mps: 10, heading_deg: 90, battery_pct: battery, vertical_speed_mps: null, link_quality_pct: 95, satellites: 12 };
}

/** `n` drones on a grid of about 1 km around Zurich. */
function grid(n: number, t = T0) {
  return Array.from({ length: n }, (_, i) => point(`d${i}`, 47.37 + (i % 100) * 0.0001, 8.54 + Math.floor(i / 100) * 0.0001, t));
}

const view = (zoom: number) => ({ bbox: { west: 8.4, south: 47.3, east: 8.7, north: 47.45 }, zoom, subscribed: null });

describe('fleet worker index', () => {
  it('decodes live and REST batches into flat values, one slot per drone', () => {
    const idx = new FleetIndex(() => T0);
    const a = idx.applyJson(JSON.stringify({ positions: [point('a', 47.1, 8.1), point('b', 47.2, 8.2)] }));
    expect([...a.slots]).toEqual([0, 1]);
    expect(a.values.length).toBe(2 * STRIDE);
    expect(a.values[STRIDE + Field.Lat]).toBe(47.2);
    expect(a.values[Field.T]).toBe(T0);
    expect(Number.isNaN(a.values[Field.VerticalSpeedMps]!)).toBe(true);
    expect(a.values[Field.Satellites]).toBe(12);
    expect(idx.takeNewIds()).toEqual(['a', 'b']);
    const b = idx.applyJson(JSON.stringify({ items: [point('b', 47.3, 8.3, T0 + 1000)] }));
    expect([...b.slots]).toEqual([1]);
    expect(idx.takeNewIds()).toEqual([]);
    expect(idx.fleetBounds).toEqual({ west: 8.1, south: 47.1, east: 8.3, north: 47.3 });
  });

  it('keeps the newest point of a drone when an older one arrives late', () => {
    const idx = new FleetIndex(() => T0);
    idx.applyJson(JSON.stringify({ positions: [point('a', 47.5, 8.5, T0 + 5000)] }));
    const late = idx.applyJson(JSON.stringify({ positions: [point('a', 47.0, 8.0, T0)] }));
    expect(late.slots.length).toBe(0);
    expect(idx.value(0, Field.Lat)).toBe(47.5);
  });

  it('clusters a dense fleet when zoomed out and draws every drone when zoomed in', () => {
    const idx = new FleetIndex(() => T0);
    idx.applyJson(JSON.stringify({ positions: grid(2000) }));
    idx.setView(view(12));
    const out = idx.frame()!;
    expect(out.matched).toBe(2000);
    const clustered = out.clusters.length / CLUSTER_STRIDE;
    expect(clustered).toBeGreaterThan(0);
    expect(clustered).toBeLessThan(50);
    let inClusters = 0;
    for (let i = 0; i < out.clusters.length; i += CLUSTER_STRIDE) inClusters += out.clusters[i + 2]!;
    expect(inClusters + out.singles.length).toBe(2000);

    idx.setView(view(CLUSTER_MAX_ZOOM + 2));
    const zoomed = idx.frame()!;
    expect(zoomed.clusters.length).toBe(0);
    expect(zoomed.singles.length).toBe(2000);
  });

  it('counts low batteries in each cluster', () => {
    const idx = new FleetIndex(() => T0);
    const pts = grid(300).map((p, i) => ({ ...p, battery_pct: i % 3 === 0 ? 10 : 90 }));
    idx.applyJson(JSON.stringify({ positions: pts }));
    idx.setView(view(10));
    const f = idx.frame()!;
    let low = 0;
    for (let i = 0; i < f.clusters.length; i += CLUSTER_STRIDE) low += f.clusters[i + 4]!;
    for (const s of f.singles) if (idx.value(s, Field.BatteryPct) < 20) low += 1;
    expect(low).toBe(100);
  });

  it('indexes only the drones that pass the filter', () => {
    const idx = new FleetIndex(() => T0 + 30_000);
    idx.applyJson(JSON.stringify({ positions: [point('a', 47.37, 8.54), point('b', 47.371, 8.541, T0, 10), point('c', 47.372, 8.542, T0 - 120_000)] }));
    idx.upsertMeta([{ id: 'a', name: 'Survey Alpha', serial: 'S-1', status: 'active' }, { id: 'b', name: 'Courier', serial: 'C-2', status: 'maintenance' }]);
    idx.setView(view(CLUSTER_MAX_ZOOM + 1));
    idx.setFilter({ text: 'alpha', status: '', battery: '', online: '' });
    expect([...idx.frame()!.singles]).toEqual([0]);
    idx.setFilter({ text: '', status: 'maintenance', battery: '', online: '' });
    expect([...idx.frame()!.singles]).toEqual([1]);
    idx.setFilter({ text: '', status: '', battery: 'low', online: '' });
    expect([...idx.frame()!.singles]).toEqual([1]);
    idx.setFilter({ text: '', status: '', battery: '', online: 'offline' });
    expect([...idx.frame()!.singles]).toEqual([2]);
    idx.remove('a');
    idx.setFilter({ text: '', status: '', battery: '', online: '' });
    expect([...idx.frame()!.singles]).toEqual([1, 2]);
  });

  it('rebuilds the cluster index at most once a second under live load', () => {
    let now = T0;
    const idx = new FleetIndex(() => now);
    idx.applyJson(JSON.stringify({ positions: grid(500) }));
    idx.setView(view(12));
    idx.frame();
    idx.applyJson(JSON.stringify({ positions: grid(500, T0 + 500) }));
    now += 500;
    expect(idx.rebuildDueIn()).toBeGreaterThan(0);
    now += 600;
    expect(idx.rebuildDueIn()).toBe(0);
    idx.frame();
    expect(idx.rebuildDueIn()).toBeNull();
  });

  it('skips a batch that is not JSON by throwing, leaving the state as it was', () => {
    const idx = new FleetIndex(() => T0);
    expect(() => idx.applyJson('{"positions": [')).toThrow();
    expect(idx.size).toBe(0);
  });
});
