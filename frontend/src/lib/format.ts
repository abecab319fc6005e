/** Formatting of numbers with their units; every number the dashboard shows goes through here. */
import { dateTimeIn, zoneChoice, zoneLabel, type ZoneChoice } from './time';

const DASH = '—';

function fixed(value: number | null | undefined, digits: number): string | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return value.toFixed(digits);
}

export function metres(value: number | null | undefined, digits = 1): string {
  const v = fixed(value, digits);
  return v === null ? DASH : `${v} m`;
}

export function speed(value: number | null | undefined, digits = 1): string {
  const v = fixed(value, digits);
  return v === null ? DASH : `${v} m/s`;
}

export function percent(value: number | null | undefined, digits = 0): string {
  const v = fixed(value, digits);
  return v === null ? DASH : `${v} %`;
}

export function degrees(value: number | null | undefined, digits = 0): string {
  const v = fixed(value, digits);
  return v === null ? DASH : `${v}°`;
}

export function coordinate(value: number | null | undefined): string {
  const v = fixed(value, 5);
  return v === null ? DASH : `${v}°`;
}

export function rate(value: number | null | undefined, digits = 1): string {
  const v = fixed(value, digits);
  return v === null ? DASH : `${v} points/s`;
}

export function minutes(value: number | null | undefined): string {
  const v = fixed(value, 0);
  return v === null ? DASH : `${v} min`;
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  if (value < 60) return `${value.toFixed(0)} s`;
  const m = Math.floor(value / 60);
  const s = Math.round(value % 60);
  return s === 0 ? `${m} min` : `${m} min ${s} s`;
}

export function distance(valueM: number | null | undefined): string {
  if (valueM === null || valueM === undefined || !Number.isFinite(valueM)) return DASH;
  return valueM >= 1000 ? `${(valueM / 1000).toFixed(2)} km` : `${valueM.toFixed(0)} m`;
}

export function count(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return Math.round(value).toLocaleString('en-GB');
}

/** "12 s ago", "5 min ago", … relative to `now` (ms since the epoch). */
export function ago(ts: string | number | null | undefined, now: number = Date.now()): string {
  if (ts === null || ts === undefined) return 'never';
  const t = typeof ts === 'number' ? ts : Date.parse(ts);
  if (!Number.isFinite(t)) return DASH;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** `2026-11-23 14:05 UTC`: in the zone chosen under Settings, with its name. */
export function dateTime(ts: string | number | null | undefined, zone: ZoneChoice = zoneChoice()): string {
  if (ts === null || ts === undefined || ts === '') return DASH;
  const t = typeof ts === 'number' ? ts : Date.parse(ts);
  if (!Number.isFinite(t)) return DASH;
  return `${dateTimeIn(t, zone)} ${zoneLabel(zone)}`;
}

/** The table's "last seen": how long ago, or "never reported". */
export function lastSeen(t: number, now: number = Date.now()): string {
  return t > 0 ? ago(t, now) : 'never reported';
}
