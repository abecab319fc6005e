/**
 * Which drones the fleet view shows, and in which order. The same predicate runs in the
 * worker (for the map) and on the page (for the table), so both show the same drones.
 */

/** A drone counts as online when it reported within this window (the legend's "60 s"). */
export const ONLINE_MS = 60_000;

export type BatteryBand = '' | 'low' | 'mid' | 'high';
export type Online = '' | 'online' | 'offline';

export interface FleetFilter {
  /** Lower-case text to find in the name or serial. */
  text: string;
  /** A drone status, or `''` for any. */
  status: string;
  battery: BatteryBand;
  online: Online;
}

export const NO_FILTER: FleetFilter = { text: '', status: '', battery: '', online: '' };

export function isFiltering(f: FleetFilter): boolean {
  return f.text !== '' || f.status !== '' || f.battery !== '' || f.online !== '';
}

/** What the predicate needs of a drone: `search` is its name and serial in lower case. */
export interface Filterable {
  search: string;
  status: string | null;
  /** NaN when unknown. */
  battery: number;
  /** Time of the newest point (ms since the epoch), 0 when it never reported. */
  t: number;
}

export function bandOf(batteryPct: number): BatteryBand {
  if (!Number.isFinite(batteryPct)) return '';
  if (batteryPct < 20) return 'low';
  if (batteryPct < 50) return 'mid';
  return 'high';
}

export function matches(f: FleetFilter, d: Filterable, now: number): boolean {
  if (f.status && d.status !== f.status) return false;
  if (f.battery && bandOf(d.battery) !== f.battery) return false;
  if (f.online) {
    const online = d.t > 0 && now - d.t <= ONLINE_MS;
    if ((f.online === 'online') !== online) return false;
  }
  return f.text === '' || d.search.includes(f.text);
}

export type SortKey = 'name' | 'status' | 'battery' | 'alt' | 'speed' | 'seen';
export type SortDir = 'asc' | 'desc';

export interface Sortable {
  name: string;
  status: string;
  battery: number;
  alt: number;
  speed: number;
  t: number;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** A comparator for `key`; unknown values (NaN, never reported) sort last in both directions. */
export function comparator<T>(key: SortKey, dir: SortDir, pick: (row: T) => Sortable): (a: T, b: T) => number {
  const sign = dir === 'asc' ? 1 : -1;
  const byName = (a: T, b: T) => collator.compare(pick(a).name, pick(b).name);
  if (key === 'name') return (a, b) => sign * byName(a, b);
  if (key === 'status') return (a, b) => sign * collator.compare(pick(a).status, pick(b).status) || byName(a, b);
  const value = (r: Sortable): number => (key === 'seen' ? (r.t > 0 ? r.t : Number.NaN) : r[key]);
  return (a, b) => {
    const va = value(pick(a));
    const vb = value(pick(b));
    const na = Number.isNaN(va);
    const nb = Number.isNaN(vb);
    if (na || nb) return na === nb ? byName(a, b) : na ? 1 : -1;
    return sign * (va - vb) || byName(a, b);
  };
}
