/** Webhooks and their deliveries in words: state, kinds, severities, times. No DOM. */
import { ALERT_KINDS, type Severity } from '../api/alerts';
import type { Delivery, DeliveryStatus, Webhook, WebhookKind } from '../api/webhooks';
import { kindLabel } from './alerts';
import * as fmt from './format';

/**
 * - `enabled`: alert changes are sent.
 * - `failing`: enabled, but every attempt since `failing_since` failed; the system disables
 *   it when that lasts the whole retry window.
 * - `paused`: an admin turned it off (`disabled_reason` is null).
 * - `disabled`: the system turned it off; `disabled_reason` says why.
 */
export type WebhookState = 'enabled' | 'failing' | 'paused' | 'disabled';

type StateFields = Pick<Webhook, 'enabled' | 'disabled_reason' | 'failing_since'>;

export function webhookState(w: StateFields): WebhookState {
  if (w.enabled) return w.failing_since ? 'failing' : 'enabled';
  return w.disabled_reason ? 'disabled' : 'paused';
}

/** The webhooks the system disabled, which an admin should look at. */
export function systemDisabled<T extends StateFields>(hooks: readonly T[]): T[] {
  return hooks.filter((w) => webhookState(w) === 'disabled');
}

export const STATE_LABELS: Record<WebhookState, string> = {
  enabled: 'Enabled',
  failing: 'Enabled, failing',
  paused: 'Paused',
  disabled: 'Disabled by the system',
};

/** `(3 h ago)` after a time, or nothing when there is no time. */
function since(ts: string | null | undefined, now: number): string {
  return ts ? `${fmt.dateTime(ts)} (${fmt.ago(ts, now)})` : '';
}

/** The line under the state: what it means for deliveries, since when, and why. */
export function stateDetail(w: StateFields, now: number = Date.now()): string {
  switch (webhookState(w)) {
    case 'enabled':
      return '';
    case 'failing':
      return `Every attempt failed since ${since(w.failing_since, now)}.`;
    case 'paused':
      return 'Alert changes are not sent while it is paused.';
    case 'disabled':
      return w.failing_since ? `Failing since ${since(w.failing_since, now)}: ${w.disabled_reason}` : `${w.disabled_reason}`;
  }
}

/** `Webhook https://… was disabled after failing since 2026-12-02 10:00 UTC (5 h ago): …`. */
export function disabledBannerText(w: StateFields & Pick<Webhook, 'url'>, now: number = Date.now()): string {
  return w.failing_since
    ? `Webhook ${w.url} was disabled after failing since ${since(w.failing_since, now)}: ${w.disabled_reason}`
    : `Webhook ${w.url} was disabled by the system: ${w.disabled_reason}`;
}

/** What the enable/disable button does: pause an enabled webhook, enable a paused one, or
 * re-enable one the system disabled (which clears `disabled_reason` and retries its pending
 * deliveries). */
export function toggleAction(w: StateFields): { enabled: boolean; label: string } {
  switch (webhookState(w)) {
    case 'enabled':
    case 'failing':
      return { enabled: false, label: 'Pause' };
    case 'paused':
      return { enabled: true, label: 'Enable' };
    case 'disabled':
      return { enabled: true, label: 'Re-enable' };
  }
}

/** `All kinds` for an empty list (every kind, also kinds added later), else the kinds in
 * the order of `ALERT_KINDS`, kinds a newer server added last: `Geofence breach, link lost`. */
export function kindsSummary(kinds: readonly string[]): string {
  if (kinds.length === 0) return 'All kinds';
  const rank = (k: string) => {
    const i = (ALERT_KINDS as readonly string[]).indexOf(k);
    return i < 0 ? ALERT_KINDS.length : i;
  };
  const text = [...new Set(kinds)].sort((a, b) => rank(a) - rank(b)).map(kindLabel).join(', ').toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The checked kinds as the API takes them: known kinds once each, in `ALERT_KINDS` order.
 * None checked is an empty list, which the API reads as every kind. */
export function kindsToSend(checked: Iterable<string>): WebhookKind[] {
  const set = new Set(checked);
  return ALERT_KINDS.filter((k) => set.has(k));
}

const SEVERITY_SCOPES: Record<Severity, string> = {
  info: 'Every severity',
  warning: 'Warning and critical',
  critical: 'Critical only',
};

/** Which alerts `min_severity` lets through, in words. */
export function severityScope(min: string): string {
  return SEVERITY_SCOPES[min as Severity] ?? min;
}

/** `12 s ago` for the past, `in 5 min` for the future (a retry), `—` for no time. */
export function relativeTime(ts: string | null | undefined, now: number = Date.now()): string {
  if (!ts) return '—';
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return '—';
  if (t <= now) return fmt.ago(t, now);
  const s = Math.round((t - now) / 1000);
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.floor(s / 60)} min`;
  if (s < 86400) return `in ${Math.floor(s / 3600)} h`;
  return `in ${Math.floor(s / 86400)} d`;
}

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed'];

/** A status filter's value (`''` is every status). */
export function parseDeliveryStatus(value: string): DeliveryStatus | undefined {
  return (DELIVERY_STATUSES as readonly string[]).includes(value) ? (value as DeliveryStatus) : undefined;
}

type DeliveryFields = Pick<Delivery, 'status' | 'attempts' | 'next_attempt_at' | 'response_status'>;

/** `Succeeded`, `Failed, no more attempts`, `Pending, next attempt in 2 min`, or `… due now`
 * when its time has come and a replica has not taken it yet. */
export function deliveryStatusText(d: DeliveryFields, now: number = Date.now()): string {
  switch (d.status) {
    case 'succeeded':
      return 'Succeeded';
    case 'failed':
      return 'Failed, no more attempts';
    case 'pending': {
      const next = d.attempts === 0 ? 'first attempt' : 'next attempt';
      if (!d.next_attempt_at) return 'Pending';
      return Date.parse(d.next_attempt_at) > now ? `Pending, ${next} ${relativeTime(d.next_attempt_at, now)}` : `Pending, ${next} due now`;
    }
    default:
      return String(d.status);
  }
}

/** The endpoint's answer to the last attempt: `HTTP 503`, or why there is none. */
export function responseText(d: DeliveryFields): string {
  if (d.response_status !== null && d.response_status !== undefined) return `HTTP ${d.response_status}`;
  return d.attempts === 0 ? 'Not tried yet' : 'No answer';
}

/** A further page added to the deliveries shown: each delivery once (the newer copy wins),
 * newest first. */
export function mergeDeliveries<T extends Pick<Delivery, 'id' | 'created_at'>>(have: readonly T[], page: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const d of have) byId.set(d.id, d);
  for (const d of page) byId.set(d.id, d);
  return [...byId.values()].sort((a, b) => {
    const dt = Date.parse(b.created_at) - Date.parse(a.created_at);
    return dt !== 0 ? dt : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
}

/** The Admin link's title: `1 webhook was disabled by the system`. */
export function disabledCountText(n: number): string {
  return n === 1 ? '1 webhook was disabled by the system' : `${n} webhooks were disabled by the system`;
}
