/**
 * The live operations alerts API (conformance monitoring), typed by hand from the contract
 * until the regenerated OpenAPI document describes it; `schema.d.ts` does not know these
 * shapes yet. The summary type extends the generated one with `open_alerts`.
 */
import { qs, send, type Summary } from './client';

export type AlertKind =
  | 'geofence_breach'
  | 'off_corridor'
  | 'altitude_deviation'
  | 'unplanned_flight'
  | 'battery_low'
  | 'link_lost'
  | 'telemetry_frozen';
export const ALERT_KINDS: readonly AlertKind[] = [
  'geofence_breach', 'off_corridor', 'altitude_deviation', 'unplanned_flight', 'battery_low', 'link_lost', 'telemetry_frozen',
];

/** In rising order: `min_severity=warning` means warning or critical. */
export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export type AlertState = 'open' | 'acknowledged' | 'resolved';
export const ALERT_STATES: readonly AlertState[] = ['open', 'acknowledged', 'resolved'];
/** What `GET /alerts?state=` takes: a state, or `active` (open or acknowledged). */
export type AlertStateFilter = AlertState | 'active';

/** The point that raised (or last repeated) the alert. `alt_m` above the take-off point. */
export interface AlertPoint {
  lat: number;
  lon: number;
  alt_m: number;
  ts: string;
}

/** What an alert is about, by `type`. `band` is `[low, high]` in metres. */
export type AlertDetails =
  | { type: 'geofence'; geofence_id: string; name: string }
  | { type: 'corridor'; distance_m: number }
  | { type: 'altitude'; alt_m: number; band: [number, number] }
  | { type: 'battery'; battery_pct: number }
  | { type: 'link'; silent_s: number }
  | { type: 'none' };

export interface Alert {
  id: string;
  drone_id: string;
  flight_plan_id: string | null;
  kind: AlertKind;
  severity: Severity;
  state: AlertState;
  first_seen: string;
  last_seen: string;
  /** How often the condition was raised while the alert was unresolved. */
  count: number;
  point: AlertPoint | null;
  details: AlertDetails;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  acknowledge_note: string | null;
  resolved_at: string | null;
  /** `system` when the condition cleared, otherwise the id of the user who resolved it. */
  resolved_by: string | null;
  resolve_note: string | null;
  version: number;
}

export interface AlertQuery {
  state?: AlertStateFilter;
  kind?: AlertKind;
  severity?: Severity;
  min_severity?: Severity;
  drone_id?: string;
  /** RFC 3339: alerts seen at or after. */
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

/** Newest first (by `first_seen`). */
export interface AlertList {
  items: Alert[];
  next_cursor: string | null;
  /** True when a shard could not be read: alerts of its drones are missing. */
  incomplete: boolean;
}

export type AlertChange = 'raised' | 'updated' | 'acknowledged' | 'resolved';

/** The data of a live `alert` event. */
export interface AlertEvent {
  change: AlertChange;
  alert: Alert;
}

export type SeverityCounts = Record<Severity, number>;
/** `/fleet/summary` with the open alerts by severity (absent from servers before alerts; a
 * severity without alerts may be left out). */
export type AlertSummary = Summary & { open_alerts?: Partial<SeverityCounts> };

/** The longest note the API keeps on an acknowledgement or a resolution. */
export const NOTE_MAX = 500;

export type AlertAction = 'acknowledge' | 'resolve';

export const alertsApi = {
  list: (query: AlertQuery = {}) => send<AlertList>('GET', `/alerts${qs(query)}`).then((r) => r.body),
  get: (id: string) => send<Alert>('GET', `/alerts/${id}`).then((r) => r.body),
  /** Acknowledges or resolves (operators and admins); a resolved alert answers 409. */
  act: (id: string, action: AlertAction, note?: string) =>
    send<Alert>('POST', `/alerts/${id}/${action}`, { body: note ? { note } : {} }).then((r) => r.body),
};
