/**
 * Drawing and editing the one shape of a geofence (a polygon or a circle) with
 * leaflet-geoman. Only the geofence editor imports this module (lazily, so that the other
 * screens do not load geoman), and geoman runs opt-in: the maps and layers of other screens
 * get none of its handlers. A polygon is closed by clicking its first point again (or Enter).
 */
import L from 'leaflet';
import '@geoman-io/leaflet-geoman-free';
import '@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css';
import { circleOf, geometryOf, latLngsOf, type FenceShape } from '../lib/fence-shape';

L.PM.setOptIn(true);

/**
 * Options for the editor's map: geoman on (it is opt-in), and SVG for the paths that have no
 * renderer of their own (the shape and geoman's helper lines). Leaflet's canvas renderer can
 * leave a redraw pending when geoman removes its helpers just before the map goes, and that
 * redraw then fails on the removed canvas; the grid and the other fences keep their canvases.
 */
export function geomanMapOptions(): L.MapOptions {
  return { pmIgnore: false, renderer: L.svg() };
}

export class ShapeEditor {
  private layer: L.Polygon | L.Circle | null = null;
  private style: L.PathOptions;
  /** Called when a shape is drawn, changed or removed. */
  onChange: (() => void) | null = null;
  /** Called when drawing starts or stops (`mode` null). */
  onMode: ((mode: 'Polygon' | 'Circle' | null) => void) | null = null;

  constructor(private readonly map: L.Map, style: L.PathOptions) {
    this.style = { ...style, pmIgnore: false };
    map.pm.setGlobalOptions({
      pathOptions: this.style,
      templineStyle: { color: style.color },
      hintlineStyle: { color: style.color, dashArray: '4 4' },
      allowSelfIntersection: false,
      snappable: true,
      finishOnEnter: true,
    });
    map.on('pm:create', (e) => {
      this.replace(e.layer as L.Polygon | L.Circle);
      this.onChange?.();
    });
    map.on('pm:drawstart', (e) => this.onMode?.(e.shape === 'Circle' ? 'Circle' : 'Polygon'));
    map.on('pm:drawend', () => this.onMode?.(null));
  }

  /** Starts drawing a new shape; it replaces the current one when finished. */
  draw(kind: 'Polygon' | 'Circle'): void {
    this.map.pm.disableDraw();
    this.map.pm.enableDraw(kind, { pathOptions: this.style });
  }

  cancel(): void {
    this.map.pm.disableDraw();
  }

  get drawing(): boolean {
    return this.map.pm.globalDrawModeEnabled();
  }

  setStyle(style: L.PathOptions): void {
    this.style = { ...style, pmIgnore: false };
    this.map.pm.setGlobalOptions({ pathOptions: this.style, templineStyle: { color: style.color }, hintlineStyle: { color: style.color, dashArray: '4 4' } });
    this.layer?.setStyle(this.style);
  }

  /** Shows an existing shape, editable (drag its vertices, or the circle's edge). */
  set(shape: FenceShape | null): void {
    if (!shape) {
      this.replace(null);
      return;
    }
    this.replace('circle' in shape
      ? L.circle([shape.circle.lat, shape.circle.lon], { ...this.style, radius: shape.circle.radius_m })
      : L.polygon(latLngsOf(shape.geometry), this.style));
  }

  /** The shape as the API takes it, or null when nothing is drawn. */
  get(): FenceShape | null {
    if (!this.layer) return null;
    if (this.layer instanceof L.Circle) return { circle: circleOf(this.layer.getLatLng(), this.layer.getRadius()) };
    return { geometry: geometryOf(this.layer.getLatLngs() as L.LatLng[][]) };
  }

  bounds(): L.LatLngBounds | null {
    return this.layer ? this.layer.getBounds() : null;
  }

  /** Before the map is removed: geoman's edit handles fail on a map that is already gone. */
  destroy(): void {
    this.map.pm.disableDraw();
    this.replace(null);
    this.map.off('pm:create pm:drawstart pm:drawend');
  }

  private replace(layer: L.Polygon | L.Circle | null): void {
    this.layer?.pm.disable();
    this.layer?.remove();
    this.layer = layer;
    if (!layer) return;
    if (!this.map.hasLayer(layer)) layer.addTo(this.map);
    layer.pm.enable({ allowSelfIntersection: false, draggable: false });
    layer.on('pm:edit', () => this.onChange?.());
  }
}
