/**
 * The fleet worker's state: every drone's newest values in flat typed arrays, decoded from
 * the live stream's JSON, and a `supercluster` index of the drones that pass the filter.
 * No worker API here, so the tests drive it directly.
 */
import Supercluster from 'supercluster';
import { BoundsBuilder, containsPoint, padBBox, type BBox } from '../lib/bbox';
import { matches, NO_FILTER, type FleetFilter } from '../lib/fleet-filter';
import { Field, STRIDE, type DroneMeta, type Frame, type Update, type ViewRequest } from './protocol';

/** Above this zoom every drone is drawn on its own (a view shows a few hundred metres). */
export const CLUSTER_MAX_ZOOM = 16;
/** Cluster radius in screen pixels. */
export const CLUSTER_RADIUS_PX = 32;
/** At most this many single drones per frame, so a frame stays cheap to draw. */
export const MAX_SINGLES = 6000;
/** The index is rebuilt at most this often, and never more than a fifth of the time. */
const MIN_REBUILD_MS = 1000;

interface JsonPoint {
  drone_id: string;
  ts: string;
  lat: number;
  lon: number;
  alt_m: number;
  speed_mps: number;
  heading_deg: number;
  battery_pct: number;
  vertical_speed_mps?: number | null;
  link_quality_pct?: number | null;
  satellites?: number | null;
}

interface Meta {
  search: string;
  status: string;
}

type ClusterProps = { low: number };
type PointProps = { slot: number; low: number };

const num = (v: number | null | undefined) => (v === null || v === undefined ? Number.NaN : v);

export class FleetIndex {
  private ids: string[] = [];
  private slotOf = new Map<string, number>();
  private meta: Array<Meta | undefined> = [];
  private values = new Float64Array(STRIDE * 1024);
  private removed = new Set<number>();
  private pendingNew: string[] = [];
  private filter: FleetFilter = NO_FILTER;
  private view: ViewRequest | null = null;
  private index: Supercluster<PointProps, ClusterProps> | null = null;
  private indexDirty = true;
  private builtAt = Number.NEGATIVE_INFINITY;
  private buildMs = 0;
  private seq = 0;
  private indexed = 0;
  private bounds = new BoundsBuilder();

  constructor(private readonly now: () => number = () => Date.now()) {}

  get size(): number {
    return this.ids.length;
  }

  private slot(id: string): number {
    let s = this.slotOf.get(id);
    if (s === undefined) {
      s = this.ids.length;
      this.ids.push(id);
      this.slotOf.set(id, s);
      this.pendingNew.push(id);
      if ((s + 1) * STRIDE > this.values.length) {
        const grown = new Float64Array(this.values.length * 2);
        grown.set(this.values);
        this.values = grown;
      }
      this.values.fill(Number.NaN, s * STRIDE, (s + 1) * STRIDE);
      this.values[s * STRIDE + Field.T] = 0;
    }
    this.removed.delete(s);
    return s;
  }

  slotFor(id: string): number | undefined {
    return this.slotOf.get(id);
  }

  value(slot: number, field: Field): number {
    return this.values[slot * STRIDE + field]!;
  }

  upsertMeta(drones: readonly DroneMeta[]): void {
    for (const d of drones) {
      const s = this.slot(d.id);
      const search = `${d.name}\n${d.serial}`.toLowerCase();
      const had = this.meta[s];
      if (!had || had.status !== d.status || had.search !== search) this.indexDirty = true;
      this.meta[s] = { search, status: d.status };
    }
  }

  remove(id: string): void {
    const s = this.slotOf.get(id);
    if (s === undefined) return;
    this.removed.add(s);
    this.indexDirty = true;
  }

  setFilter(f: FleetFilter): void {
    this.filter = f;
    this.indexDirty = true;
    this.builtAt = Number.NEGATIVE_INFINITY;
  }

  setView(v: ViewRequest): void {
    this.view = v;
  }

  /** New ids since the last call, in slot order. */
  takeNewIds(): string[] {
    const out = this.pendingNew;
    this.pendingNew = [];
    return out;
  }

  /**
   * Decodes a `positions` event (`{positions: [...]}`) or a `/fleet/positions` answer
   * (`{items: [...]}`) and keeps each drone's newest point. Returns the changed drones'
   * slots and values.
   */
  applyJson(json: string): Pick<Update, 'slots' | 'values'> {
    const parsed = JSON.parse(json) as { positions?: JsonPoint[]; items?: JsonPoint[] };
    const points = parsed.positions ?? parsed.items ?? [];
    const slots = new Int32Array(points.length);
    const out = new Float64Array(points.length * STRIDE);
    let n = 0;
    for (const p of points) {
      const t = Date.parse(p.ts);
      if (!Number.isFinite(t) || typeof p.drone_id !== 'string') continue;
      const s = this.slot(p.drone_id);
      const o = s * STRIDE;
      const v = this.values;
      if (v[o + Field.T]! > t) continue;
      v[o + Field.Lat] = p.lat;
      v[o + Field.Lon] = p.lon;
      v[o + Field.AltM] = p.alt_m;
      v[o + Field.SpeedMps] = p.speed_mps;
      v[o + Field.HeadingDeg] = p.heading_deg;
      v[o + Field.BatteryPct] = p.battery_pct;
      v[o + Field.T] = t;
      v[o + Field.VerticalSpeedMps] = num(p.vertical_speed_mps);
      v[o + Field.LinkQualityPct] = num(p.link_quality_pct);
      v[o + Field.Satellites] = num(p.satellites);
      this.bounds.add(p.lat, p.lon);
      slots[n] = s;
      out.set(v.subarray(o, o + STRIDE), n * STRIDE);
      n += 1;
    }
    if (n > 0) this.indexDirty = true;
    return { slots: slots.slice(0, n), values: out.slice(0, n * STRIDE) };
  }

  get fleetBounds(): BBox | null {
    return this.bounds.bounds;
  }

  private passes(s: number, now: number): boolean {
    if (this.removed.has(s)) return false;
    const o = s * STRIDE;
    if (!(this.values[o + Field.T]! > 0)) return false;
    const m = this.meta[s];
    return matches(this.filter, { search: m?.search ?? this.ids[s]!, status: m?.status ?? null, battery: this.values[o + Field.BatteryPct]!, t: this.values[o + Field.T]! }, now);
  }

  private rebuild(now: number): void {
    const started = performance.now();
    const features: Array<Supercluster.PointFeature<PointProps>> = [];
    for (let s = 0; s < this.ids.length; s++) {
      if (!this.passes(s, now)) continue;
      const o = s * STRIDE;
      features.push({
        type: 'Feature',
        properties: { slot: s, low: this.values[o + Field.BatteryPct]! < 20 ? 1 : 0 },
        geometry: { type: 'Point', coordinates: [this.values[o + Field.Lon]!, this.values[o + Field.Lat]!] },
      });
    }
    const index = new Supercluster<PointProps, ClusterProps>({
      radius: CLUSTER_RADIUS_PX,
      // Leaflet's tiles are 256 px, so the radius is in screen pixels at Leaflet's zoom.
      extent: 256,
      maxZoom: CLUSTER_MAX_ZOOM,
      minPoints: 3,
      map: (p) => ({ low: p.low }),
      reduce: (acc, p) => { acc.low += p.low; },
    });
    index.load(features);
    this.index = index;
    this.indexed = features.length;
    this.indexDirty = false;
    this.builtAt = now;
    this.buildMs = performance.now() - started;
  }

  /** True when the current view is drawn from the cluster index (else from a scan of the arrays). */
  get clustered(): boolean {
    return this.view !== null && Math.round(this.view.zoom) <= CLUSTER_MAX_ZOOM;
  }

  /** How long until a rebuild is due (0: now), or null when the index is current. */
  rebuildDueIn(): number | null {
    if (!this.indexDirty) return null;
    return Math.max(0, this.builtAt + Math.max(MIN_REBUILD_MS, 5 * this.buildMs) - this.now());
  }

  /** The frame for the current view; `rebuild` forces a fresh index (else it is rebuilt when due). */
  frame(rebuild = false): Frame | null {
    const view = this.view;
    if (!view) return null;
    const started = performance.now();
    const now = this.now();
    const box = padBBox(view.bbox, 0.5);
    const zoom = Math.round(view.zoom);
    const singles: number[] = [];
    const clusters: number[] = [];
    let matched = 0;
    let truncated = false;
    if (!this.clustered) {
      for (let s = 0; s < this.ids.length; s++) {
        if (!this.passes(s, now)) continue;
        matched += 1;
        const o = s * STRIDE;
        if (!containsPoint(box, this.values[o + Field.Lat]!, this.values[o + Field.Lon]!)) continue;
        if (singles.length < MAX_SINGLES) singles.push(s);
        else truncated = true;
      }
    } else {
      if (!this.index || rebuild || this.rebuildDueIn() === 0) this.rebuild(now);
      const index = this.index!;
      matched = this.indexed;
      for (const f of index.getClusters([box.west, box.south, box.east, box.north], zoom)) {
        const [lon, lat] = f.geometry.coordinates as [number, number];
        const p = f.properties as Partial<Supercluster.ClusterProperties> & Partial<ClusterProps> & Partial<PointProps>;
        if (p.cluster) {
          clusters.push(lon, lat, p.point_count!, index.getClusterExpansionZoom(p.cluster_id!), p.low ?? 0);
        } else if (singles.length < MAX_SINGLES) singles.push(p.slot!);
        else truncated = true;
      }
    }
    this.seq += 1;
    return {
      seq: this.seq,
      zoom: view.zoom,
      clusters: Float64Array.from(clusters),
      singles: Int32Array.from(singles),
      matched,
      truncated,
      costMs: performance.now() - started,
    };
  }
}

