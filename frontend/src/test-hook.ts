/**
 * `window.__nimbus`: read-only state for the end-to-end and performance tests (marker
 * positions as drawn, drone count, live status) and an opt-in lag recorder.
 */
import { fleet } from './fleet-store';
import type { LiveConnection } from './live';
import type { DroneLayer } from './map/drone-layer';

interface Hook {
  droneCount(): number;
  droneName(id: string): string | null;
  positions(): Array<{ id: string; lat: number; lon: number; x: number; y: number }>;
  liveStatus(): string;
  liveEvents(): number;
  /** Lag samples (ms): draw time − point timestamp, recorded while `recordLag` is true. */
  lagSamples: number[];
  recordLag: boolean;
  /** Receive times of live events not drawn yet, and (draw time − receive time) samples (ms). */
  receivedAt: number[];
  clientLagSamples: number[];
  layer: DroneLayer | null;
}

declare global {
  interface Window {
    __nimbus: Hook;
  }
}

export function installTestHook(live: () => LiveConnection | null): void {
  window.__nimbus = {
    droneCount: () => fleet.drones.size,
    droneName: (id) => fleet.drones.get(id)?.drone?.name ?? null,
    positions: () => (window.__nimbus.layer?.positions ?? []).map((d) => ({ ...d })),
    liveStatus: () => live()?.status ?? 'offline',
    liveEvents: () => live()?.events ?? 0,
    lagSamples: [],
    recordLag: false,
    receivedAt: [],
    clientLagSamples: [],
    layer: null,
  };
}
