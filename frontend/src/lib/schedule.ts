/** Geofence schedules and altitude bands in words, for the list and the tooltips. */
import { WEEKDAYS, type Datum, type Schedule, type Weekday, type WeeklyWindow } from '../api/airspace';
import * as fmt from './format';
import type { ZoneChoice } from './time';

const SHORT: Record<Weekday, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

/** `['mon','tue','wed','fri']` → `Mon–Wed, Fri`; all seven → `daily`. Runs of three or more
 * days become a range; the week starts on Monday. */
export function dayRanges(days: readonly Weekday[]): string {
  const set = new Set(days);
  if (set.size === 7) return 'daily';
  const out: string[] = [];
  let i = 0;
  while (i < WEEKDAYS.length) {
    if (!set.has(WEEKDAYS[i]!)) {
      i += 1;
      continue;
    }
    let j = i;
    while (j + 1 < WEEKDAYS.length && set.has(WEEKDAYS[j + 1]!)) j += 1;
    const first = SHORT[WEEKDAYS[i]!];
    const last = SHORT[WEEKDAYS[j]!];
    if (j - i >= 2) out.push(`${first}–${last}`);
    else if (j === i) out.push(first);
    else out.push(first, last);
    i = j + 1;
  }
  return out.join(', ');
}

/** True when the window runs past midnight into the next day (`end` before `start`). */
export function crossesMidnight(w: WeeklyWindow): boolean {
  return w.end < w.start;
}

/** `Mon–Fri 08:00–18:00`, or `Fri 22:00–06:00 (+1 day)` across midnight. */
export function windowSummary(w: WeeklyWindow): string {
  return `${dayRanges(w.days)} ${w.start}–${w.end}${crossesMidnight(w) ? ' (+1 day)' : ''}`;
}

/**
 * One line for the list: `always` without a schedule; else the weekly windows in their zone
 * and the validity in the dashboard's zone, e.g.
 * `Mon–Fri 08:00–18:00 (Europe/Berlin) · from 2026-06-01 00:00 UTC`.
 */
export function scheduleSummary(s: Schedule | null | undefined, zone?: ZoneChoice): string {
  if (!s) return 'always';
  const parts: string[] = [];
  if (s.weekly.length > 0) parts.push(`${s.weekly.map(windowSummary).join(', ')} (${s.time_zone || 'UTC'})`);
  if (s.valid_from && s.valid_to) parts.push(`${fmt.dateTime(s.valid_from, zone)} – ${fmt.dateTime(s.valid_to, zone)}`);
  else if (s.valid_from) parts.push(`from ${fmt.dateTime(s.valid_from, zone)}`);
  else if (s.valid_to) parts.push(`until ${fmt.dateTime(s.valid_to, zone)}`);
  return parts.length ? parts.join(' · ') : 'always';
}

/** `0–120 m`, or `0–120 m AGL` with the datum. */
export function bandSummary(lower_m: number, upper_m: number, datum?: Datum): string {
  const band = `${lower_m.toFixed(0)}–${fmt.metres(upper_m, 0)}`;
  return datum ? `${band} ${datum.toUpperCase()}` : band;
}
