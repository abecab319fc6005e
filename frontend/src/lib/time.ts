/**
 * One time zone for every time the dashboard shows or reads: UTC (the default, the API's
 * zone) or the browser's zone, chosen under Settings, always named next to the time.
 */

export type ZoneChoice = 'utc' | 'local';

const KEY = 'nimbus.timeZone';

export function zoneChoice(): ZoneChoice {
  try {
    return globalThis.localStorage?.getItem(KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

export function setZoneChoice(z: ZoneChoice): void {
  localStorage.setItem(KEY, z);
}

/** The IANA name of the browser's zone, e.g. `Europe/Zurich`. */
export function localZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
}

/** How the chosen zone is named next to times: `UTC` or `Europe/Zurich`. */
export function zoneLabel(z: ZoneChoice = zoneChoice()): string {
  return z === 'utc' ? 'UTC' : localZoneName();
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function parts(t: number, z: ZoneChoice): Parts {
  const d = new Date(t);
  return z === 'utc'
    ? { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() }
    : { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** `2026-11-23 14:05` in the zone (no zone name: callers add `zoneLabel`). */
export function dateTimeIn(t: number, z: ZoneChoice): string {
  const p = parts(t, z);
  return `${p.year}-${p2(p.month)}-${p2(p.day)} ${p2(p.hour)}:${p2(p.minute)}`;
}

/** `14:05` (24-hour clock), or `14:05:09` with seconds. */
export function clockIn(t: number, z: ZoneChoice, withSeconds = false): string {
  const p = parts(t, z);
  return withSeconds ? `${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}` : `${p2(p.hour)}:${p2(p.minute)}`;
}

/** The value of a `datetime-local` input showing `t` in the zone; `withSeconds` for an input
 * with `step="1"`. */
export function toInputValue(t: number, z: ZoneChoice, withSeconds = false): string {
  const minutes = dateTimeIn(t, z).replace(' ', 'T');
  return withSeconds ? `${minutes}:${p2(parts(t, z).second)}` : minutes;
}

/** Reads a `datetime-local` value as a time in the zone; NaN when it is not one. */
export function fromInputValue(value: string, z: ZoneChoice): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return Number.NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  return z === 'utc' ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
}
