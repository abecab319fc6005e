/**
 * The live state of the fleet on the page: drone metadata, each drone's newest values and a
 * short trail, and the frame to draw. Decoding and clustering happen in the fleet worker
 * (`worker/fleet.worker.ts`); this store applies the worker's compact updates and tells the
 * views once per animation frame, so they redraw only what changed.
 */
import { allPages, api, type Drone } from './api/client';
import type { BBox } from './lib/bbox';
import { NO_FILTER, sortKey, type FleetFilter } from './lib/fleet-filter';
import { Trail } from './lib/trail';
import { Field, STRIDE, type DroneMeta, type Frame, type FromWorker, type ToWorker, type ViewRequest } from './worker/protocol';

export const TRAIL_POINTS = 30;
/** Trails keep the last two minutes. */
const TRAIL_MS = 120_000;
/** Drones the stream names but the list does not have yet: fetch the list again at most this often. */
const RELIST_MS = 15_000;

/** A drone's newest values; nullable fields are null when the drone did not send them. */
export interface LivePoint {
  lat: number;
  lon: number;
  alt_m: number;
  speed_mps: number;
  heading_deg: number;
  battery_pct: number;
  vertical_speed_mps: number | null;
  link_quality_pct: number | null;
  satellites: number | null;
}

export interface DroneState {
  id: string;
  /** Index in the worker's arrays (-1 until the worker announced it). */
  slot: number;
  drone: Drone | null;
  point: LivePoint | null;
  /** Time of `point` (ms since the epoch), 0 when the drone never reported. */
  t: number;
  trail: Trail | null;
  /** Name and serial in lower case, for search. */
  search: string;
  /** The name as a natural-order sort key. */
  sortName: string;
}

export interface FrameUpdate {
  /** True when the drone's values changed since the previous update. */
  has(id: string): boolean;
  /** Drones whose values changed. */
  changed: number;
  /** True when drones were added, removed or their metadata changed. */
  listChanged: boolean;
  /** A new frame from the worker (clusters and singles to draw), or null. */
  frame: Frame | null;
  /** When the update was handed to the views (`Date.now()`). */
  at: number;
}

type Listener = (u: FrameUpdate) => void;

const nullable = (v: number) => (Number.isNaN(v) ? null : v);

function metaOf(d: Drone): DroneMeta {
  return { id: d.id, name: d.name, serial: d.serial, status: d.status };
}

class FleetStore {
  readonly drones = new Map<string, DroneState>();
  /** States by worker slot. */
  readonly bySlot: DroneState[] = [];
  /** The newest frame to draw. */
  frame: Frame | null = null;
  /** Box around every known position. */
  bounds: BBox | null = null;
  /** What the live stream currently delivers (`null`: every drone). */
  subscribed: BBox | null = null;
  loaded = false;
  loadError: string | null = null;
  /** Decode time of the last batches in the worker (ms), for the benchmark. */
  decodeMs: number[] = [];
  private listeners = new Set<Listener>();
  private worker: Worker | null = null;
  private changedAt = new Uint32Array(1024);
  private seq = 1;
  private pendingChanged = 0;
  private pendingList = false;
  private pendingFrame: Frame | null = null;
  private scheduled = false;
  private relistAt = 0;
  private view: ViewRequest | null = null;
  private filter: FleetFilter = NO_FILTER;

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private send(m: ToWorker): void {
    if (!this.worker) {
      this.worker = new Worker(new URL('./worker/fleet.worker.ts', import.meta.url), { type: 'module' });
      this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
      if (this.view) this.worker.postMessage({ type: 'view', view: this.view } satisfies ToWorker);
      if (this.filter !== NO_FILTER) this.worker.postMessage({ type: 'filter', filter: this.filter } satisfies ToWorker);
    }
    this.worker.postMessage(m);
  }

  private state(id: string): DroneState {
    let s = this.drones.get(id);
    if (!s) {
      s = { id, slot: -1, drone: null, point: null, t: 0, trail: null, search: id, sortName: '\uffff' + id };
      this.drones.set(id, s);
    }
    return s;
  }

  list(): DroneState[] {
    return [...this.drones.values()];
  }

  /** Forgets everything (sign-out): a new worker starts from slot 0. */
  reset(): void {
    this.worker?.terminate();
    this.worker = null;
    this.drones.clear();
    this.bySlot.length = 0;
    this.frame = null;
    this.bounds = null;
    this.subscribed = null;
    this.loaded = false;
    this.loadError = null;
    this.view = null;
    this.filter = NO_FILTER;
  }

  /** A live `positions` event, as received: the worker decodes it. */
  ingest(json: string): void {
    this.send({ type: 'positions', json });
  }

  setView(view: ViewRequest): void {
    this.view = view;
    this.subscribed = view.subscribed;
    this.send({ type: 'view', view });
  }

  setFilter(filter: FleetFilter): void {
    this.filter = filter;
    this.send({ type: 'filter', filter });
  }

  private addDrones(items: readonly Drone[]): void {
    for (const d of items) {
      const s = this.state(d.id);
      s.drone = d;
      s.search = `${d.name}\n${d.serial}`.toLowerCase();
      s.sortName = sortKey(d.name);
    }
    this.send({ type: 'drones', drones: items.map(metaOf) });
    this.pendingList = true;
    this.schedule();
  }

  /** Loads every drone (all pages) and the fleet's latest positions. */
  async load(): Promise<void> {
    try {
      await allPages((cursor) => api.drones({ limit: 500, cursor }), (items) => this.addDrones(items), 1000);
      this.ingest(await api.positionsJson());
      this.loaded = true;
      this.loadError = null;
      this.pendingList = true;
      this.schedule();
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
      this.pendingList = true;
      this.schedule();
      throw e;
    }
  }

  /** Fetches the newest positions in `bbox` (after the live stream moved to cover it). */
  async refreshPositions(bbox: string | undefined): Promise<void> {
    this.ingest(await api.positionsJson(bbox));
  }

  upsertDrone(d: Drone): void {
    this.addDrones([d]);
  }

  removeDrone(id: string): void {
    const s = this.drones.get(id);
    if (!s) return;
    this.drones.delete(id);
    s.point = null;
    s.t = 0;
    this.send({ type: 'remove', id });
    this.pendingList = true;
    this.schedule();
  }

  private receive(m: FromWorker): void {
    for (const id of m.newIds) {
      const s = this.state(id);
      s.slot = this.bySlot.length;
      this.bySlot.push(s);
      if (!s.drone && this.loaded) this.relistSoon();
    }
    if (m.newIds.length > 0) {
      this.pendingList = true;
      if (this.bySlot.length > this.changedAt.length) {
        const grown = new Uint32Array(Math.max(this.bySlot.length, this.changedAt.length * 2));
        grown.set(this.changedAt);
        this.changedAt = grown;
      }
    }
    const now = Date.now();
    const { slots, values } = m;
    for (let i = 0; i < slots.length; i++) {
      const s = this.bySlot[slots[i]!];
      if (!s) continue;
      const o = i * STRIDE;
      const lat = values[o + Field.Lat]!;
      const lon = values[o + Field.Lon]!;
      const p = s.point ?? (s.point = { lat, lon, alt_m: 0, speed_mps: 0, heading_deg: 0, battery_pct: 0, vertical_speed_mps: null, link_quality_pct: null, satellites: null });
      p.lat = lat;
      p.lon = lon;
      p.alt_m = values[o + Field.AltM]!;
      p.speed_mps = values[o + Field.SpeedMps]!;
      p.heading_deg = values[o + Field.HeadingDeg]!;
      p.battery_pct = values[o + Field.BatteryPct]!;
      p.vertical_speed_mps = nullable(values[o + Field.VerticalSpeedMps]!);
      p.link_quality_pct = nullable(values[o + Field.LinkQualityPct]!);
      p.satellites = nullable(values[o + Field.Satellites]!);
      s.t = values[o + Field.T]!;
      const trail = s.trail ?? (s.trail = new Trail(TRAIL_POINTS));
      trail.push(lat, lon, s.t);
      trail.prune(now - TRAIL_MS);
      this.changedAt[s.slot] = this.seq;
    }
    this.pendingChanged += slots.length;
    if (m.frame) this.pendingFrame = m.frame;
    if (m.bounds) this.bounds = m.bounds;
    if (m.decodeMs > 0) {
      this.decodeMs.push(m.decodeMs);
      if (this.decodeMs.length > 200) this.decodeMs.splice(0, 100);
    }
    this.schedule();
  }

  /** The stream named drones the list lacks (registered after the page loaded). */
  private relistSoon(): void {
    const now = Date.now();
    if (now < this.relistAt) return;
    this.relistAt = now + RELIST_MS;
    window.setTimeout(() => {
      void allPages((cursor) => api.drones({ limit: 500, cursor }), (items) => this.addDrones(items.filter((d) => !this.drones.get(d.id)?.drone)), 1000)
        .catch(() => undefined);
    }, 1000);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const seq = this.seq;
    this.seq += 1;
    const changedAt = this.changedAt;
    const drones = this.drones;
    if (this.pendingFrame) this.frame = this.pendingFrame;
    const u: FrameUpdate = {
      has: (id) => {
        const s = drones.get(id);
        return !!s && s.slot >= 0 && changedAt[s.slot] === seq;
      },
      changed: this.pendingChanged,
      listChanged: this.pendingList,
      frame: this.pendingFrame,
      at: Date.now(),
    };
    this.pendingChanged = 0;
    this.pendingList = false;
    this.pendingFrame = null;
    for (const f of this.listeners) f(u);
  }
}

export const fleet = new FleetStore();
