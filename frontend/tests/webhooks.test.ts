import { describe, expect, it } from 'vitest';
import type { Delivery, Webhook } from '../src/api/webhooks';
import {
  deliveryStatusText, disabledBannerText, disabledCountText, kindsSummary, kindsToSend, mergeDeliveries,
  parseDeliveryStatus, relativeTime, responseText, severityScope, stateDetail, systemDisabled, toggleAction, webhookState,
} from '../src/lib/webhooks';

const NOW = Date.parse('2026-12-02T15:00:00Z');
const REASON = 'every delivery attempt failed since 2026-12-01T10:00:00Z (last: connection refused); enable the webhook again once its endpoint answers';

const hook = (id: string, over: Partial<Webhook> = {}): Webhook => ({
  id, url: `https://ops.example.com/hooks/${id}`, description: null, kinds: [], min_severity: 'warning', enabled: true,
  disabled_reason: null, failing_since: null, created_by: 'u1', created_at: '2026-12-01T09:00:00Z', updated_at: '2026-12-01T09:00:00Z',
  version: 1, ...over,
});

const delivery = (id: string, created_at: string, over: Partial<Delivery> = {}): Delivery => ({
  id, event_type: 'alert.raised', status: 'succeeded', attempts: 1, next_attempt_at: null, last_attempt_at: created_at,
  response_status: 200, last_error: null, created_at, payload: {}, ...over,
});

const systemOff = { enabled: false, disabled_reason: REASON, failing_since: '2026-12-01T10:00:00Z' };

describe('webhook state', () => {
  it('tells an admin-paused webhook from one the system disabled', () => {
    expect(webhookState(hook('a'))).toBe('enabled');
    expect(webhookState(hook('a', { failing_since: '2026-12-02T14:00:00Z' }))).toBe('failing');
    expect(webhookState(hook('a', { enabled: false }))).toBe('paused');
    expect(webhookState(hook('a', systemOff))).toBe('disabled');
    // Failures since a time do not make a paused webhook one the system disabled.
    expect(webhookState(hook('a', { enabled: false, failing_since: '2026-12-02T14:00:00Z' }))).toBe('paused');
  });

  it('lists only the webhooks the system disabled', () => {
    const hooks = [hook('a'), hook('b', { enabled: false }), hook('c', systemOff), hook('d', { failing_since: '2026-12-02T14:00:00Z' })];
    expect(systemDisabled(hooks).map((w) => w.id)).toEqual(['c']);
    expect(systemDisabled([])).toEqual([]);
  });

  it('offers to pause an enabled webhook and to re-enable one the system disabled', () => {
    expect(toggleAction(hook('a'))).toEqual({ enabled: false, label: 'Pause' });
    expect(toggleAction(hook('a', { failing_since: '2026-12-02T14:00:00Z' }))).toEqual({ enabled: false, label: 'Pause' });
    expect(toggleAction(hook('a', { enabled: false }))).toEqual({ enabled: true, label: 'Enable' });
    expect(toggleAction(hook('a', systemOff))).toEqual({ enabled: true, label: 'Re-enable' });
  });

  it('says since when a webhook fails and why the system disabled it', () => {
    expect(stateDetail(hook('a'), NOW)).toBe('');
    expect(stateDetail(hook('a', { failing_since: '2026-12-02T12:00:00Z' }), NOW)).toBe('Every attempt failed since 2026-12-02 12:00 UTC (3 h ago).');
    expect(stateDetail(hook('a', { enabled: false }), NOW)).toBe('Alert changes are not sent while it is paused.');
    expect(stateDetail(hook('a', systemOff), NOW)).toBe(`Failing since 2026-12-01 10:00 UTC (1 d ago): ${REASON}`);
    expect(stateDetail(hook('a', { ...systemOff, failing_since: null }), NOW)).toBe(REASON);
  });

  it('words the banner of a disabled webhook with its URL, since when and why', () => {
    expect(disabledBannerText(hook('pager', systemOff), NOW)).toBe(
      `Webhook https://ops.example.com/hooks/pager was disabled after failing since 2026-12-01 10:00 UTC (1 d ago): ${REASON}`);
    expect(disabledBannerText(hook('pager', { ...systemOff, failing_since: null }), NOW)).toBe(
      `Webhook https://ops.example.com/hooks/pager was disabled by the system: ${REASON}`);
  });

  it('counts disabled webhooks in words', () => {
    expect(disabledCountText(1)).toBe('1 webhook was disabled by the system');
    expect(disabledCountText(3)).toBe('3 webhooks were disabled by the system');
  });
});

describe('webhook kinds and severities', () => {
  it('reads an empty list of kinds as all kinds', () => {
    expect(kindsSummary([])).toBe('All kinds');
  });

  it('lists kinds in the usual order, each once, kinds a newer server added last', () => {
    expect(kindsSummary(['link_lost', 'geofence_breach'])).toBe('Geofence breach, link lost');
    expect(kindsSummary(['swarm_split', 'battery_low', 'battery_low'])).toBe('Battery low, swarm split');
  });

  it('sends the checked kinds once each in the usual order, and none for all', () => {
    expect(kindsToSend(['link_lost', 'geofence_breach', 'link_lost'])).toEqual(['geofence_breach', 'link_lost']);
    expect(kindsToSend(['nope', 'battery_low'])).toEqual(['battery_low']);
    expect(kindsToSend([])).toEqual([]);
  });

  it('says which severities a minimum lets through', () => {
    expect(severityScope('info')).toBe('Every severity');
    expect(severityScope('warning')).toBe('Warning and critical');
    expect(severityScope('critical')).toBe('Critical only');
  });
});

describe('deliveries in words', () => {
  it('says how long ago or how soon a time is', () => {
    expect(relativeTime('2026-12-02T14:59:48Z', NOW)).toBe('12 s ago');
    expect(relativeTime('2026-12-02T15:00:30Z', NOW)).toBe('in 30 s');
    expect(relativeTime('2026-12-02T15:05:00Z', NOW)).toBe('in 5 min');
    expect(relativeTime('2026-12-02T18:00:00Z', NOW)).toBe('in 3 h');
    expect(relativeTime('2026-12-04T15:00:00Z', NOW)).toBe('in 2 d');
    expect(relativeTime(null, NOW)).toBe('—');
    expect(relativeTime('not a time', NOW)).toBe('—');
  });

  it('says when a pending delivery is tried next and that a failed one is given up', () => {
    expect(deliveryStatusText(delivery('d', '2026-12-02T14:00:00Z'), NOW)).toBe('Succeeded');
    expect(deliveryStatusText(delivery('d', '2026-12-02T14:00:00Z', { status: 'failed', attempts: 12 }), NOW)).toBe('Failed, no more attempts');
    expect(deliveryStatusText(delivery('d', '2026-12-02T14:00:00Z', { status: 'pending', attempts: 3, next_attempt_at: '2026-12-02T15:02:00Z' }), NOW))
      .toBe('Pending, next attempt in 2 min');
    expect(deliveryStatusText(delivery('d', '2026-12-02T14:00:00Z', { status: 'pending', attempts: 0, next_attempt_at: '2026-12-02T14:59:59Z' }), NOW))
      .toBe('Pending, first attempt due now');
  });

  it("shows the endpoint's status, or why there is none", () => {
    expect(responseText(delivery('d', '2026-12-02T14:00:00Z', { response_status: 503 }))).toBe('HTTP 503');
    expect(responseText(delivery('d', '2026-12-02T14:00:00Z', { response_status: null, attempts: 2 }))).toBe('No answer');
    expect(responseText(delivery('d', '2026-12-02T14:00:00Z', { response_status: null, attempts: 0, status: 'pending' }))).toBe('Not tried yet');
  });

  it('reads the status filter, with an empty value for every status', () => {
    expect(parseDeliveryStatus('failed')).toBe('failed');
    expect(parseDeliveryStatus('')).toBeUndefined();
    expect(parseDeliveryStatus('lost')).toBeUndefined();
  });

  it('adds a further page newest first, each delivery once with its newer copy', () => {
    const first = [delivery('c', '2026-12-02T14:03:00Z'), delivery('b', '2026-12-02T14:02:00Z', { status: 'pending', attempts: 1 })];
    const next = [delivery('b', '2026-12-02T14:02:00Z', { status: 'failed', attempts: 9 }), delivery('a', '2026-12-02T14:01:00Z')];
    const merged = mergeDeliveries(first, next);
    expect(merged.map((d) => d.id)).toEqual(['c', 'b', 'a']);
    expect(merged[1]!.status).toBe('failed');
    expect(mergeDeliveries([], [delivery('x', '2026-12-02T14:00:00Z'), delivery('y', '2026-12-02T14:00:00Z')]).map((d) => d.id)).toEqual(['y', 'x']);
  });
});
