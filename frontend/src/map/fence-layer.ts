/**
 * The organisation's geofences as context on a map: one canvas of its own in a pane under
 * the drones and routes, outlined and dashed by kind, inactive fences faint. Nothing on it
 * is interactive, so it adds no hit-testing to the mouse moves of a busy fleet map and map
 * clicks (adding waypoints) go through. The fences come page by page from GET /geofences,
 * at most `MAX_FENCES`, and are shared by the maps opened within `FRESH_MS`.
 */
import L from 'leaflet';
import { allPages } from '../api/client';
import { airspace, type Geofence } from '../api/airspace';
import { fenceStyle } from '../lib/colors';
import { latLngsOf } from '../lib/fence-shape';

const PAGE = 500;
export const MAX_FENCES = 5000;
const FRESH_MS = 30_000;
const PANE = 'fences';

let cache: { at: number; fences: Promise<Geofence[]> } | null = null;

/** Every fence (up to `MAX_FENCES`), from the cache while it is fresh. */
export function loadFences(): Promise<Geofence[]> {
  if (cache && Date.now() - cache.at < FRESH_MS) return cache.fences;
  const fences = allPages<Geofence>((cursor) => airspace.geofences({ limit: PAGE, cursor }), undefined, MAX_FENCES / PAGE);
  cache = { at: Date.now(), fences };
  fences.catch(() => { if (cache?.fences === fences) cache = null; });
  return fences;
}

/** After a change on the geofence screens: the next map loads them again. */
export function invalidateFences(): void {
  cache = null;
}

/** The Leaflet layer of one fence, drawn with `renderer`. */
export function fenceShape(f: Geofence, renderer: L.Renderer, emphasis = 1): L.Path | null {
  const { color, dashArray } = fenceStyle(f.kind);
  const style: L.PathOptions = {
    renderer, color, dashArray, interactive: false,
    weight: 1.5 * emphasis, opacity: f.active ? 0.9 : 0.45,
    fillColor: color, fillOpacity: f.active ? 0.12 : 0.04,
  };
  if (f.circle) return L.circle([f.circle.lat, f.circle.lon], { ...style, radius: f.circle.radius_m });
  if (f.geometry) return L.polygon(latLngsOf(f.geometry), style);
  return null;
}

export class FenceLayer {
  private readonly group = L.layerGroup();
  private readonly renderer: L.Canvas;
  private alive = true;
  /** The fences drawn, for the tests. */
  drawn: Array<{ id: string; name: string; kind: string }> = [];
  onLoaded: ((fences: Geofence[]) => void) | null = null;

  constructor(map: L.Map) {
    if (!map.getPane(PANE)) {
      const pane = map.createPane(PANE);
      pane.style.zIndex = '350';
      pane.style.pointerEvents = 'none';
    }
    this.renderer = L.canvas({ pane: PANE, padding: 0.2 });
    this.group.addTo(map);
  }

  /** Loads and draws the fences but `exclude` (the one being edited); a failure leaves the
   * map without them (they are context). */
  async load(exclude?: string): Promise<void> {
    try {
      const fences = await loadFences();
      if (!this.alive) return;
      this.draw(exclude ? fences.filter((f) => f.id !== exclude) : fences);
      this.onLoaded?.(fences);
    } catch {
      this.drawn = [];
    }
  }

  draw(fences: readonly Geofence[]): void {
    this.group.clearLayers();
    this.drawn = [];
    for (const f of fences) {
      const shape = fenceShape(f, this.renderer);
      if (!shape) continue;
      this.group.addLayer(shape);
      this.drawn.push({ id: f.id, name: f.name, kind: f.kind });
    }
  }

  remove(): void {
    this.alive = false;
    this.group.remove();
    this.renderer.remove();
  }
}
