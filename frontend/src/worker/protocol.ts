/**
 * Messages between the page and the fleet worker. Live values travel as typed arrays
 * (transferred, not copied): `STRIDE` numbers per drone, in the order of `Field`.
 */
import type { BBox } from '../lib/bbox';
import type { FleetFilter } from '../lib/fleet-filter';

export const enum Field {
  Lat = 0,
  Lon,
  AltM,
  SpeedMps,
  HeadingDeg,
  BatteryPct,
  /** ms since the epoch */
  T,
  VerticalSpeedMps,
  LinkQualityPct,
  Satellites,
}
export const STRIDE = 10;

export interface DroneMeta {
  id: string;
  name: string;
  serial: string;
  status: string;
}

export interface ViewRequest {
  /** The visible box; the worker answers for it padded by half a view on each side. */
  bbox: BBox;
  zoom: number;
  /** What the live stream delivers (`null`: everything); drones outside are not live. */
  subscribed: BBox | null;
}

export type ToWorker =
  | { type: 'drones'; drones: DroneMeta[] }
  | { type: 'remove'; id: string }
  | { type: 'positions'; json: string }
  | { type: 'view'; view: ViewRequest }
  | { type: 'filter'; filter: FleetFilter };

/** What to draw: clusters and single drones in the padded view. */
export interface Frame {
  seq: number;
  zoom: number;
  /** `CLUSTER_STRIDE` numbers per cluster: lon, lat, count, expansion zoom, low-battery count. */
  clusters: Float64Array;
  /** Slots of the drones drawn on their own. */
  singles: Int32Array;
  /** Drones that pass the filter and have a position (in the whole fleet). */
  matched: number;
  /** True when `singles` was cut at `MAX_SINGLES`. */
  truncated: boolean;
  /** Worker time to make this frame (ms), index rebuild included. */
  costMs: number;
}
export const CLUSTER_STRIDE = 5;

export interface Update {
  type: 'update';
  /** Drones seen for the first time, in slot order (their slots follow the previous ones). */
  newIds: string[];
  slots: Int32Array;
  values: Float64Array;
  frame: Frame | null;
  /** The box around every known position. */
  bounds: BBox | null;
  /** Worker time to decode and apply the batch (ms). */
  decodeMs: number;
}

export type FromWorker = Update;
