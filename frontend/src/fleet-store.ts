/**
 * The live state of the fleet: drone metadata, each drone's newest point and a short trail.
 * Live points arrive coalesced once per animation frame; views subscribe to frame updates
 * and redraw only what changed.
 */
import { allPages, api, type Drone, type Point } from './api/client';
import { Trail } from './lib/trail';

export const TRAIL_POINTS = 30;
/** Trails keep the last two minutes. */
const TRAIL_MS = 120_000;

export interface DroneState {
  id: string;
  drone: Drone | null;
  point: Point | null;
  /** `Date.parse(point.ts)`. */
  t: number;
  trail: Trail;
}

export interface FrameUpdate {
  /** Drones whose point changed in this frame. */
  changed: Set<string>;
  /** True when drones were added or their metadata changed. */
  listChanged: boolean;
  /** When the frame was applied (`Date.now()`). */
  at: number;
  /** Points applied in this frame (for lag measurement). */
  points: readonly Point[];
}

type Listener = (u: FrameUpdate) => void;

class FleetStore {
  readonly drones = new Map<string, DroneState>();
  private listeners = new Set<Listener>();
  loaded = false;
  loadError: string | null = null;
  private unknownSeenAt = 0;

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private emit(u: FrameUpdate): void {
    for (const f of this.listeners) f(u);
  }

  private state(id: string): DroneState {
    let s = this.drones.get(id);
    if (!s) {
      s = { id, drone: null, point: null, t: 0, trail: new Trail(TRAIL_POINTS) };
      this.drones.set(id, s);
    }
    return s;
  }

  list(): DroneState[] {
    return [...this.drones.values()];
  }

  reset(): void {
    this.drones.clear();
    this.loaded = false;
    this.loadError = null;
  }

  /** Loads every drone (all pages) and the fleet's latest positions. */
  async load(): Promise<void> {
    try {
      await allPages((cursor) => api.drones({ limit: 500, cursor }), (items) => {
        for (const d of items) this.state(d.id).drone = d;
        this.emit({ changed: new Set(), listChanged: true, at: Date.now(), points: [] });
      });
      const positions = await api.positions();
      this.applyPoints(positions.items, Date.now(), false);
      this.loaded = true;
      this.loadError = null;
      this.emit({ changed: new Set(positions.items.map((p) => p.drone_id)), listChanged: true, at: Date.now(), points: [] });
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
      this.emit({ changed: new Set(), listChanged: true, at: Date.now(), points: [] });
      throw e;
    }
  }

  upsertDrone(d: Drone): void {
    this.state(d.id).drone = d;
    this.emit({ changed: new Set([d.id]), listChanged: true, at: Date.now(), points: [] });
  }

  /** Applies one frame's coalesced points and tells the subscribers. */
  applyFrame(points: readonly Point[], at: number): void {
    const { changed, unknown } = this.applyPoints(points, at, true);
    this.emit({ changed, listChanged: unknown, at, points });
    if (unknown && at - this.unknownSeenAt > 10_000) {
      // A drone we have not listed yet (e.g. the simulator registered it after we loaded).
      this.unknownSeenAt = at;
      void allPages((cursor) => api.drones({ limit: 500, cursor })).then((all) => {
        for (const d of all) this.state(d.id).drone = d;
        this.emit({ changed: new Set(), listChanged: true, at: Date.now(), points: [] });
      }).catch(() => undefined);
    }
  }

  private applyPoints(points: readonly Point[], now: number, live: boolean): { changed: Set<string>; unknown: boolean } {
    const changed = new Set<string>();
    let unknown = false;
    for (const p of points) {
      const known = this.drones.has(p.drone_id);
      const s = this.state(p.drone_id);
      if (live && !known) unknown = true;
      const t = Date.parse(p.ts);
      if (s.point && t < s.t) continue;
      s.point = p;
      s.t = t;
      s.trail.push(p.lat, p.lon, t);
      s.trail.prune(now - TRAIL_MS);
      changed.add(p.drone_id);
    }
    return { changed, unknown };
  }
}

export const fleet = new FleetStore();
