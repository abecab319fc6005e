// The live operations alerts part of the dashboard end-to-end test (issue 18): a prohibited
// circle created (through the API) around a drone that is flying raises a geofence breach,
// which appears on /alerts by itself (live), is badged in the header and on the drone, and
// is acknowledged with a note through the screen. The fence is deleted at the end whatever
// happens, so that the later scenarios plan freely near the drones.
import { login } from './harness.mjs';

/** Points older than this (behind the newest one) are from drones that are not reporting. */
const REPORTING_S = 15;
const RADIUS_M = 1000;

/** An API call from the test itself, with the page's token. */
async function api(base, token, method, path, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The drone to fence in: among those reporting now, the fastest (it is flying, so the
 * monitor judges its points). */
function pickDrone(points) {
  const newest = Math.max(...points.map((p) => Date.parse(p.ts)));
  const reporting = points.filter((p) => newest - Date.parse(p.ts) <= REPORTING_S * 1000);
  return reporting.sort((a, b) => b.speed_mps - a.speed_mps)[0] ?? null;
}

export async function alertsScenario({ page, base, check, shot }) {
  await login(page, base);
  const token = await page.evaluate(() => sessionStorage.getItem('nimbus.token'));
  check(!!token, 'the alerts scenario is signed in as the demo admin');
  // Subscribed before the fence exists, so that the breach comes as a live event.
  await page.waitForFunction(() => window.__nimbus.liveStatus() === 'connected', null, { timeout: 15_000 });

  const positions = await api(base, token, 'GET', '/fleet/positions');
  const target = pickDrone(positions.items);
  check(target !== null, `a demo drone is reporting (${positions.items.length} positions)`);
  const name = `E2E breach ${Date.now().toString(36)}`;
  const fence = await api(base, token, 'POST', '/geofences', {
    name, kind: 'prohibited', circle: { lat: target.lat, lon: target.lon, radius_m: RADIUS_M }, lower_m: 0, upper_m: 500, datum: 'agl', active: true,
  });
  check(fence.circle?.radius_m === RADIUS_M, `a prohibited circle of ${RADIUS_M} m is created around drone ${target.drone_id} (${target.lat.toFixed(5)}, ${target.lon.toFixed(5)}, ${target.speed_mps.toFixed(1)} m/s)`);

  try {
    // The alert comes live: the screen is open before the monitor sees the next point.
    await page.click('nav a[href="/alerts"]');
    await page.waitForSelector('[data-testid=alert-list-count]', { state: 'attached', timeout: 10_000 });
    const rows = page.locator(`[data-testid=alert-row][data-kind=geofence_breach][data-drone-id="${target.drone_id}"]`, { hasText: name });
    await rows.first().waitFor({ timeout: 30_000 });
    const row = rows.first();
    const alertId = await row.getAttribute('data-alert-id');
    const state = await row.getAttribute('data-state');
    const details = (await row.locator('[data-testid=alert-details]').textContent()) ?? '';
    check(state === 'open' && details.includes(`inside “${name}”`), `an open geofence breach of that drone appears on /alerts within 30 s ("${details}", ${await row.getAttribute('data-severity')})`);
    await page.waitForFunction(() => Number((document.querySelector('[data-testid=alerts-badge]')?.textContent ?? '0').replace(/\D/g, '')) >= 1, null, { timeout: 5000 });
    check(true, `the header counts open alerts (${await page.textContent('[data-testid=alerts-badge]')})`);
    const badge = await page.evaluate((id) => window.__nimbus.alertBadge(id), target.drone_id);
    check(badge === 'critical' || badge === 'warning' || badge === 'info', `the drone is badged with its open alert (${badge})`);
    await shot('alert-raised');

    // Acknowledge with a note, in the form under the row.
    const note = 'e2e: pilot called, leaving the zone';
    await page.locator(`[data-testid=alert-row][data-alert-id="${alertId}"] [data-testid=acknowledge-alert]`).click();
    const form = page.locator(`tr.alert-action-row[data-for="${alertId}"] [data-testid=alert-action-form]`);
    await form.waitFor({ timeout: 5000 });
    await form.locator('[data-testid=alert-note]').fill(note);
    await form.locator('[data-testid=confirm-alert-action]').click();
    const acked = page.locator(`[data-testid=alert-row][data-alert-id="${alertId}"][data-state=acknowledged]`);
    await acked.waitFor({ timeout: 10_000 }).catch(async () => {
      const error = await page.locator(`tr.alert-action-row[data-for="${alertId}"] [data-testid=alert-action-error]`).textContent().catch(() => '');
      throw new Error(`the alert was not shown acknowledged${error ? `: ${error}` : ''}`);
    });
    const shown = (await acked.locator('[data-testid=alert-state]').textContent()) ?? '';
    const shownNote = (await acked.locator('[data-testid=alert-ack-note]').textContent()) ?? '';
    check(shown.trim() === 'acknowledged' && shownNote.includes(note), `acknowledged through the screen, with the note shown ("${shown}", ${shownNote})`);
    check((await page.$$(`tr.alert-action-row[data-for="${alertId}"]`)).length === 0, 'the note form closes');
    const stored = await api(base, token, 'GET', `/alerts/${alertId}`);
    check(stored.state === 'acknowledged' && stored.acknowledge_note === note && !!stored.acknowledged_at, 'the server holds it acknowledged, with the note and the time');
    await shot('alert-acknowledged');
  } finally {
    // Also after a failure: the scenarios after this one plan near the drones.
    await api(base, token, 'DELETE', `/geofences/${fence.id}`).catch((e) => console.error(`  could not delete the fence: ${e}`));
  }
  const left = await api(base, token, 'GET', '/geofences?kind=prohibited&limit=500');
  check(!left.items.some((f) => f.id === fence.id), 'the fence is deleted');
}
