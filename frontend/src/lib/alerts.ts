/** Alerts in words, the filters of the alert lists, and live changes merged into a list. */
import { ALERT_KINDS, SEVERITIES, type Alert, type AlertChange, type AlertDetails, type AlertEvent, type AlertKind, type AlertQuery, type AlertStateFilter, type Severity } from '../api/alerts';
import * as fmt from './format';
import { bandSummary } from './schedule';

const KIND_LABELS: Record<AlertKind, string> = {
  geofence_breach: 'Geofence breach',
  off_corridor: 'Off corridor',
  altitude_deviation: 'Altitude deviation',
  unplanned_flight: 'Unplanned flight',
  battery_low: 'Battery low',
  link_lost: 'Link lost',
  telemetry_frozen: 'Telemetry frozen',
};

/** `Geofence breach`; a kind a newer server added reads `some kind`. */
export function kindLabel(kind: string): string {
  return KIND_LABELS[kind as AlertKind] ?? kind.replace(/_/g, ' ');
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function severityRank(s: Severity): number {
  return RANK[s] ?? 0;
}

/** The highest of the severities, or null when there are none. */
export function worstSeverity(severities: Iterable<Severity>): Severity | null {
  let worst: Severity | null = null;
  for (const s of severities) if (worst === null || severityRank(s) > severityRank(worst)) worst = s;
  return worst;
}

/** What the alert found, in words: `inside “No-fly A”`, `42 m off corridor`, `battery 12 %`,
 * `silent 7 s`, `at 135 m, above the 30–120 m band`; empty when the kind says it all. */
export function detailsText(d: AlertDetails | null | undefined): string {
  switch (d?.type) {
    case 'geofence':
      return `inside “${d.name}”`;
    case 'corridor':
      return `${fmt.metres(d.distance_m, 0)} off corridor`;
    case 'altitude': {
      const [low, high] = d.band;
      const side = d.alt_m > high ? 'above' : d.alt_m < low ? 'below' : 'outside';
      return `at ${fmt.metres(d.alt_m, 0)}, ${side} the ${bandSummary(low, high)} band`;
    }
    case 'battery':
      return `battery ${fmt.percent(d.battery_pct)}`;
    case 'link':
      return `silent ${fmt.seconds(d.silent_s)}`;
    default:
      return '';
  }
}

/** `Critical: geofence breach, inside “No-fly A”`: one line, for notifications. */
export function alertHeadline(a: Alert): string {
  const details = detailsText(a.details);
  const severity = a.severity.charAt(0).toUpperCase() + a.severity.slice(1);
  return `${severity}: ${kindLabel(a.kind).toLowerCase()}${details ? `, ${details}` : ''}`;
}

/** The filters of an alert list, as the API takes them (empty: any). */
export type AlertFilter = Pick<AlertQuery, 'state' | 'kind' | 'severity' | 'min_severity' | 'drone_id'>;

const STATE_FILTERS: readonly string[] = ['active', 'open', 'acknowledged', 'resolved'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The alerts screen's filters from its URL. No `state` means active (what needs attention),
 * `state=all` every state; values the API would refuse are dropped. */
export function filterFromQuery(q: URLSearchParams): AlertFilter {
  const f: AlertFilter = {};
  const state = q.get('state') ?? 'active';
  if (STATE_FILTERS.includes(state)) f.state = state as AlertStateFilter;
  const kind = q.get('kind');
  if (kind && (ALERT_KINDS as readonly string[]).includes(kind)) f.kind = kind as AlertKind;
  for (const k of ['severity', 'min_severity'] as const) {
    const v = q.get(k);
    if (v && (SEVERITIES as readonly string[]).includes(v)) f[k] = v as Severity;
  }
  const drone = q.get('drone_id');
  if (drone && UUID.test(drone)) f.drone_id = drone;
  return f;
}

/** The URL query of `f`, the inverse of `filterFromQuery` (`''` for the default view). */
export function queryOfFilter(f: AlertFilter): string {
  const q = new URLSearchParams();
  if (f.state !== 'active') q.set('state', f.state ?? 'all');
  if (f.kind) q.set('kind', f.kind);
  if (f.severity) q.set('severity', f.severity);
  if (f.min_severity) q.set('min_severity', f.min_severity);
  if (f.drone_id) q.set('drone_id', f.drone_id);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The same test as the API's, for alerts that arrive live. */
export function matchesFilter(a: Alert, f: AlertFilter): boolean {
  if (f.state === 'active' ? a.state === 'resolved' : f.state && a.state !== f.state) return false;
  if (f.kind && a.kind !== f.kind) return false;
  if (f.severity && a.severity !== f.severity) return false;
  if (f.min_severity && severityRank(a.severity) < severityRank(f.min_severity)) return false;
  if (f.drone_id && a.drone_id !== f.drone_id) return false;
  return true;
}

/** Negative when `a` is listed before `b`: newest `first_seen` first, then by id, as the API. */
export function listOrder(a: Alert, b: Alert): number {
  const d = Date.parse(b.first_seen) - Date.parse(a.first_seen);
  if (d !== 0 && Number.isFinite(d)) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export type MergeResult =
  | { op: 'inserted' | 'replaced'; index: number; items: Alert[] }
  | { op: 'none'; items: readonly Alert[] };

/**
 * Applies a changed alert (a live event's, or the answer of an action) to a list shown
 * newest first. A newer version replaces its row where it is, whatever the filter says: a
 * row someone looks at does not vanish when it is acknowledged or resolved. An alert not
 * listed goes in at its place when it matches the filter, unless that place is past the end
 * of a list with pages still to load (the next page brings it). The same or an older version
 * (an event replayed after a reconnect, or the echo of one's own action) changes nothing.
 */
export function mergeAlert(items: readonly Alert[], alert: Alert, filter: AlertFilter, complete: boolean): MergeResult {
  const at = items.findIndex((a) => a.id === alert.id);
  if (at >= 0) {
    if (items[at]!.version >= alert.version) return { op: 'none', items };
    const next = items.slice();
    next[at] = alert;
    return { op: 'replaced', index: at, items: next };
  }
  if (!matchesFilter(alert, filter)) return { op: 'none', items };
  let index = items.findIndex((a) => listOrder(alert, a) < 0);
  if (index < 0) {
    if (!complete) return { op: 'none', items };
    index = items.length;
  }
  const next = items.slice();
  next.splice(index, 0, alert);
  return { op: 'inserted', index, items: next };
}

/** The list with the next page after it; an alert already listed (it arrived live meanwhile)
 * keeps its place, in the newer of the two versions. */
export function appendPage(items: readonly Alert[], page: readonly Alert[]): Alert[] {
  const next = items.slice();
  const where = new Map(next.map((a, i) => [a.id, i]));
  for (const a of page) {
    const i = where.get(a.id);
    if (i === undefined) {
      where.set(a.id, next.length);
      next.push(a);
    } else if (a.version > next[i]!.version) next[i] = a;
  }
  return next;
}

const CHANGES: ReadonlySet<string> = new Set<AlertChange>(['raised', 'updated', 'acknowledged', 'resolved']);

/** The event's data when it has the shape the dashboard relies on, else null. */
export function parseAlertEvent(json: string): AlertEvent | null {
  try {
    const v = JSON.parse(json) as Partial<AlertEvent> | null;
    const a = v?.alert as Partial<Alert> | undefined;
    if (!v || !CHANGES.has(v.change ?? '') || !a || typeof a.id !== 'string' || typeof a.drone_id !== 'string'
      || typeof a.version !== 'number' || typeof a.state !== 'string' || typeof a.severity !== 'string') return null;
    return v as AlertEvent;
  } catch {
    return null;
  }
}
