/**
 * `window.__nimbus`: read-only state for the end-to-end test and the benchmark (markers and
 * clusters as drawn, drone counts, live status, geofences drawn, the open editor's map for
 * clicking at a position, open alerts by drone, replay streams) and an opt-in lag recorder.
 */
import type L from 'leaflet';
import { alerts } from './alert-store';
import { fleet } from './fleet-store';
import type { LiveConnection } from './live';
import type { DrawnCluster, DroneLayer } from './map/drone-layer';
import type { FenceLayer } from './map/fence-layer';

interface Hook {
  droneCount(): number;
  /** Drones with a position. */
  liveCount(): number;
  droneName(id: string): string | null;
  /** Single drones as drawn (clustered ones are not). */
  positions(): Array<{ id: string; lat: number; lon: number; x: number; y: number }>;
  clusters(): DrawnCluster[];
  /** Every drone's newest position, drawn or not. */
  allPositions(): Array<{ id: string; lat: number; lon: number }>;
  liveStatus(): string;
  liveEvents(): number;
  /** EventSources opened since the page loaded (a reconnect storm shows here). */
  streamsOpened(): number;
  subscribedBbox(): string | null;
  /** Worker decode times of recent batches (ms). */
  decodeMs(): number[];
  /** Canvas draw times (ms). */
  drawMs: number[];
  /** Receive times of live events not drawn yet, and (draw time − receive time) samples (ms). */
  recordLag: boolean;
  receivedAt: number[];
  clientLagSamples: number[];
  layer: DroneLayer | null;
  /** The map of the open plan or geofence editor. */
  map: L.Map | null;
  /** The geofences drawn on the open screen's map. */
  fences(): Array<{ id: string; name: string; kind: string }>;
  fenceLayer: FenceLayer | null;
  /** The worst severity of the drone's open alerts (its badge), or null. */
  alertBadge(id: string): string | null;
  /** Open alerts by severity, as the header counts them. */
  openAlerts(): { info: number; warning: number; critical: number };
  /** Replay streams being read (none once a replay is paused or its screen left), and the
   * frames the replay screen has shown since it opened. */
  replayStreams: number;
  replayFrames: number;
}

declare global {
  interface Window {
    __nimbus: Hook;
  }
}

export function installTestHook(live: () => LiveConnection | null): void {
  window.__nimbus = {
    droneCount: () => fleet.drones.size,
    liveCount: () => {
      let n = 0;
      for (const s of fleet.drones.values()) if (s.point) n += 1;
      return n;
    },
    droneName: (id) => fleet.drones.get(id)?.drone?.name ?? null,
    positions: () => (window.__nimbus.layer?.positions ?? []).map((d) => ({ ...d })),
    clusters: () => (window.__nimbus.layer?.drawnClusters ?? []).map((c) => ({ ...c })),
    allPositions: () => [...fleet.drones.values()].filter((s) => s.point).map((s) => ({ id: s.id, lat: s.point!.lat, lon: s.point!.lon })),
    liveStatus: () => live()?.status ?? 'offline',
    liveEvents: () => live()?.events ?? 0,
    streamsOpened: () => live()?.opened ?? 0,
    subscribedBbox: () => {
      const b = live()?.subscribedBbox;
      return b ? `${b.west},${b.south},${b.east},${b.north}` : null;
    },
    decodeMs: () => [...fleet.decodeMs],
    drawMs: [],
    recordLag: false,
    receivedAt: [],
    clientLagSamples: [],
    layer: null,
    map: null,
    fences: () => (window.__nimbus.fenceLayer?.drawn ?? []).map((f) => ({ ...f })),
    fenceLayer: null,
    alertBadge: (id) => alerts.severityOf(id),
    openAlerts: () => ({ ...alerts.index.counts() }),
    replayStreams: 0,
    replayFrames: 0,
  };
}
