/**
 * An active plan's corridor on a map: a translucent band `lateral_buffer_m` to each side of
 * the path (a round-capped stroke whose width follows the zoom, see `lib/corridor.ts`) under
 * the path itself. Not interactive but for the path's tooltip.
 */
import L from 'leaflet';
import type { Waypoint } from '../api/client';
import { bandWeightPx, DEFAULT_LATERAL_BUFFER_M, middleLatitude } from '../lib/corridor';

const COLOR = '#7a3fb0';

export class CorridorLayer {
  private readonly group = L.layerGroup();
  private band: L.Polyline | null = null;
  private lat = 0;
  /** The plan drawn, for the tests. */
  planId: string | null = null;

  constructor(private readonly map: L.Map, private readonly renderer: L.Renderer, private readonly bufferM = DEFAULT_LATERAL_BUFFER_M) {
    this.group.addTo(map);
    map.on('zoomend', this.fit, this);
  }

  /** Draws the route of `planId` (null: none). */
  show(planId: string | null, name: string, waypoints: readonly Waypoint[]): void {
    if (planId === this.planId) return;
    this.group.clearLayers();
    this.band = null;
    this.planId = planId;
    if (!planId || waypoints.length === 0) return;
    const path = waypoints.map((w) => [w.lat, w.lon] as [number, number]);
    this.lat = middleLatitude(waypoints);
    this.band = L.polyline(path, {
      renderer: this.renderer, color: COLOR, opacity: 0.18, lineCap: 'round', lineJoin: 'round', interactive: false,
      weight: bandWeightPx(this.bufferM, this.lat, this.map.getZoom()),
    }).addTo(this.group);
    L.polyline(path, { renderer: this.renderer, color: COLOR, weight: 3 })
      .bindTooltip(`Active plan “${name}”: corridor ±${this.bufferM} m`)
      .addTo(this.group);
  }

  private fit(): void {
    this.band?.setStyle({ weight: bandWeightPx(this.bufferM, this.lat, this.map.getZoom()) });
  }

  remove(): void {
    this.map.off('zoomend', this.fit, this);
    this.group.remove();
  }
}
