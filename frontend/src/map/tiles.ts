/** The base map's tile URL: a user setting in localStorage, else the build-time default. */
const KEY = 'nimbus.tileUrl';
export const OSM_URL = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';

export function defaultTileUrl(): string {
  const env = import.meta.env.VITE_TILE_URL as string | undefined;
  return env === undefined ? OSM_URL : env;
}

/** The tile URL template, or `''` for no tiles (plain background and grid only). */
export function tileUrl(): string {
  const saved = localStorage.getItem(KEY);
  return saved === null ? defaultTileUrl() : saved;
}

export function setTileUrl(url: string | null): void {
  if (url === null) localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, url.trim());
  window.dispatchEvent(new CustomEvent('nimbus:tiles'));
}
