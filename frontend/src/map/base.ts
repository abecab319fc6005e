/**
 * A Leaflet map that works without internet: a plain background with a lat/lon grid and a
 * scale, and tiles on top when they load. Vector layers use Leaflet's canvas renderer.
 */
import L from 'leaflet';
import { graticuleLines, gridLabel } from '../lib/graticule';
import { tileUrl } from './tiles';

export interface BaseMap {
  map: L.Map;
  renderer: L.Canvas;
  destroy(): void;
}

const DEFAULT_CENTER: L.LatLngExpression = [47.3769, 8.5417];

/** `options` adds to the map's options (the geofence editor's drawing needs one). */
export function createBaseMap(container: HTMLElement, center: L.LatLngExpression = DEFAULT_CENTER, zoom = 13, options: L.MapOptions = {}): BaseMap {
  const renderer = L.canvas({ padding: 0.2 });
  const map = L.map(container, { preferCanvas: true, renderer, zoomControl: true, attributionControl: true, ...options }).setView(center, zoom);
  L.control.scale({ metric: true, imperial: false }).addTo(map);

  const grid = L.layerGroup().addTo(map);
  const gridStyle: L.PolylineOptions = { color: '#8595a8', weight: 1, opacity: 0.55, interactive: false, renderer };
  let destroyed = false;
  const drawGrid = () => {
    // A zoom animation can end after the map was removed (Leaflet fires zoomend from a timer).
    if (destroyed) return;
    grid.clearLayers();
    const b = map.getBounds();
    const g = graticuleLines({ south: b.getSouth(), west: b.getWest(), north: b.getNorth(), east: b.getEast() });
    for (const lat of g.lats) {
      grid.addLayer(L.polyline([[lat, Math.max(-180, b.getWest())], [lat, Math.min(180, b.getEast())]], gridStyle));
    }
    for (const lon of g.lons) {
      grid.addLayer(L.polyline([[Math.max(-90, b.getSouth()), lon], [Math.min(90, b.getNorth()), lon]], gridStyle));
    }
    const labels = container.querySelector<HTMLElement>('.grid-labels');
    if (labels) {
      const first = g.lats[0];
      const firstLon = g.lons[0];
      labels.textContent = first !== undefined && firstLon !== undefined
        ? `grid ${g.step}° · ${gridLabel(first, 'lat', g.step)}, ${gridLabel(firstLon, 'lon', g.step)}`
        : '';
    }
  };
  const labels = L.DomUtil.create('div', 'grid-labels', container);
  labels.setAttribute('aria-hidden', 'true');
  map.on('moveend zoomend resize', drawGrid);
  drawGrid();

  let tiles: L.TileLayer | null = null;
  const tileNotice = L.DomUtil.create('div', 'tile-notice', container);
  tileNotice.setAttribute('role', 'status');
  const setTiles = () => {
    if (destroyed) return;
    tiles?.remove();
    tiles = null;
    tileNotice.textContent = '';
    container.classList.remove('tiles-failed');
    const url = tileUrl();
    if (!url) {
      tileNotice.textContent = 'Map tiles off: plain background with grid.';
      return;
    }
    let errors = 0;
    tiles = L.tileLayer(url, {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    });
    tiles.on('tileerror', () => {
      errors += 1;
      if (errors === 1) {
        container.classList.add('tiles-failed');
        tileNotice.textContent = 'Map tiles could not be loaded (offline?): showing the plain background with a grid. Change the tile URL under Settings.';
      }
    });
    tiles.on('tileload', () => {
      if (errors === 0) container.classList.remove('tiles-failed');
    });
    tiles.addTo(map);
    tiles.bringToBack();
  };
  setTiles();
  window.addEventListener('nimbus:tiles', setTiles);

  return {
    map,
    renderer,
    destroy() {
      destroyed = true;
      window.removeEventListener('nimbus:tiles', setTiles);
      map.stop();
      map.remove();
    },
  };
}
