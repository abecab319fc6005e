// End-to-end test of the dashboard against a real server with 10 simulated drones.
// Usage: NIMBUS_BIN=path/to/nimbusfleet node e2e/dashboard.e2e.mjs   (after `npm run build`)
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { login, run, SHOTS } from './harness.mjs';

// Screenshots of an earlier run would mix with this run's.
mkdirSync(SHOTS, { recursive: true });
for (const f of readdirSync(SHOTS)) if (/^\d\d-.*\.png$/.test(f)) rmSync(join(SHOTS, f));

let step = 0;
let passed = 0;
const check = (cond, message) => {
  if (!cond) throw new Error(`assertion failed: ${message}`);
  passed += 1;
  console.log(`  ok ${passed} - ${message}`);
};

await run('dashboard e2e', 10, async ({ base, browser, server }) => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => {
    errors.push(String(e));
    console.error(`  page error after step ${step}: ${e.stack ?? e}`);
  });
  const shot = async (name) => {
    step += 1;
    const path = join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path });
    console.log(`  screenshot ${path}`);
  };

  // 1. Log in.
  await page.goto(`${base}/`);
  await page.waitForSelector('#email');
  await shot('login');
  await login(page, base);
  check(await page.isVisible('[data-testid=logout]'), 'logged in: the sign-out button is shown');

  // 2. Drones move on the map: marker positions as drawn, a few seconds apart.
  await page.waitForFunction(() => window.__nimbus.positions().length >= 10, null, { timeout: 30_000 });
  await page.waitForFunction(() => window.__nimbus.liveStatus() === 'connected', null, { timeout: 15_000 });
  const before = await page.evaluate(() => window.__nimbus.positions());
  await shot('fleet-1');
  // Simulated drones start on the ground; wait (up to 90 s) until some have taken off.
  await page.waitForFunction((b) => {
    const now = window.__nimbus.positions();
    return now.filter((a) => b.some((x) => x.id === a.id && (x.lat !== a.lat || x.lon !== a.lon))).length >= 3;
  }, before, { timeout: 90_000, polling: 500 });
  const after = await page.evaluate(() => window.__nimbus.positions());
  await shot('fleet-2');
  const moved = after.filter((a) => {
    const b = before.find((x) => x.id === a.id);
    return b && (b.lat !== a.lat || b.lon !== a.lon);
  });
  check(before.length >= 10, `at least 10 drones on the map (${before.length})`);
  check(moved.length >= 3, `drones moved between two looks (${moved.length} of ${after.length})`);
  const rows = await page.$$eval('.vt-row', (r) => r.length);
  check(rows > 0 && rows <= 60, `the drone table renders only visible rows (${rows})`);
  const grid = await page.textContent('#fleet-map .grid-labels');
  check(/^grid [\d.]+°/.test(grid ?? ''), `the map draws its own lat/lon grid (${grid})`);
  check((await page.$$('#fleet-map .leaflet-control-scale')).length === 1, 'the map has a scale');
  const tiles = await page.textContent('#fleet-map .tile-notice');
  console.log(`  note: tiles ${tiles ? `failed: "${tiles}"` : 'loaded (or still loading)'}`);
  const kpi = await page.textContent('[data-testid=kpi-pps]');
  check(/points\/s/.test(kpi ?? ''), `fleet KPI shows points per second (${kpi})`);

  // 3. Search, select a drone in the table, then open it and see its charts.
  const target = moved[0].id;
  const targetName = await page.evaluate((id) => window.__nimbus.droneName(id), target);
  await page.fill('#drone-search', targetName ?? 'Simulator');
  await page.waitForFunction((n) => document.querySelectorAll('.vt-row').length >= 1 && [...document.querySelectorAll('.vt-row .linkish')].every((b) => b.textContent.includes(n)), targetName ?? 'Simulator', { timeout: 5000 });
  check(true, `searching "${targetName}" filters the table`);
  const firstRow = page.locator('.vt-row').first();
  await firstRow.locator('button.linkish').click();
  check(await page.evaluate(() => window.__nimbus.layer?.selected != null), 'selecting a row selects the drone on the map');
  await firstRow.locator('a.row-open').click();
  await page.waitForSelector('[data-testid=live-values]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=charts] .uplot canvas').length >= 3, null, { timeout: 20_000 });
  const buckets = await page.getAttribute('[data-testid=charts]', 'data-points');
  check(Number(buckets) > 0, `history charts have data (${buckets} buckets)`);
  const chartCount = await page.$$eval('[data-testid=charts] .uplot', (c) => c.length);
  check(chartCount === 3, 'altitude, speed and battery charts are drawn');
  await page.waitForSelector('[data-testid=live-alt]', { timeout: 10_000 });
  check(/ m$/.test((await page.textContent('[data-testid=live-alt]')) ?? ''), 'live altitude is shown with its unit');
  await shot('drone-detail');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15_000 }),
    page.click('button:has-text("Download GPX")'),
  ]);
  const gpx = await readFile(await download.path(), 'utf8');
  check(download.suggestedFilename().endsWith('.gpx') && gpx.includes('<trkpt'), `the GPX track export downloads (${download.suggestedFilename()}, ${gpx.length} bytes)`);
  await page.click('button:has-text("Edit details")');
  await page.fill('#drone-firmware_version', 'v9.9.9-e2e');
  await page.click('form.form-grid button[type=submit]');
  await page.waitForSelector('dd:has-text("v9.9.9-e2e")', { timeout: 10_000 });
  check(await page.isVisible('dd:has-text("(version 2)")'), 'an admin edits the drone (If-Match) and sees version 2');

  // 4. Create a flight plan by clicking the map, and submit it.
  await page.click('a[href^="/plans/new"]');
  await page.waitForSelector('[data-testid=plan-map]');
  await page.waitForTimeout(500);
  const box = await page.locator('[data-testid=plan-map]').boundingBox();
  const clickAt = (dx, dy) => page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
  await clickAt(-40, -30);
  await clickAt(40, -30);
  await clickAt(40, 30);
  check((await page.$$('[data-testid=waypoints] li.wp')).length === 3, 'three map clicks make three waypoints');
  await shot('plan-editor');
  await page.click('[data-testid=submit-plan]');
  await page.waitForURL(/\/plans\?state=submitted/, { timeout: 15_000 });
  await page.waitForSelector('[data-testid=plan-table] [data-state=submitted]', { timeout: 10_000 });
  check(await page.isVisible('[data-testid=plan-table] [data-state=submitted]'), 'the new plan is listed as submitted');
  await shot('plan-submitted');
  await page.locator('[data-testid=plan-table] tr[data-state=submitted] button', { hasText: 'Approve' }).first().click();
  await page.waitForFunction(() => /is now approved/.test(document.getElementById('toast')?.textContent ?? ''), null, { timeout: 10_000 });
  await page.click('.tabs button:has-text("approved")');
  await page.waitForSelector('[data-testid=plan-table] tr[data-state=approved]', { timeout: 10_000 });
  check(true, 'an admin approves the submitted plan');
  await page.locator('[data-testid=plan-table] tr[data-state=approved] button.linkish').first().click();
  await page.waitForSelector('.plan-detail .leaflet-container', { timeout: 10_000 });
  check((await page.$$('.plan-detail .plan-waypoints li')).length === 3, 'a plan opens with its route and three waypoints');
  await shot('plan-route');

  // 5. An out-of-range altitude is reported next to its waypoint.
  await page.click('[data-testid=new-plan]');
  await page.waitForSelector('[data-testid=plan-map]');
  await page.waitForTimeout(500);
  await clickAt(-30, 0);
  await clickAt(30, 0);
  await page.locator('[data-testid=wp-alt_m]').nth(1).fill('5000');
  await page.click('[data-testid=submit-plan]');
  await page.waitForSelector('li.wp[data-index="1"] [data-testid=wp-error]', { timeout: 10_000 });
  const msg = await page.textContent('li.wp[data-index="1"] [data-testid=wp-error]');
  check(!!msg && msg.length > 0, `the altitude error is shown next to waypoint 2 ("${msg}")`);
  check((await page.$$('li.wp[data-index="0"] [data-testid=wp-error]')).length === 0, 'waypoint 1 has no error');
  await shot('plan-validation');

  // 6. Admin screen renders.
  await page.click('a[href="/admin"]');
  await page.waitForSelector('[data-testid=users]', { timeout: 10_000 });
  check((await page.$$('[data-testid=users] tbody tr')).length >= 3, 'admin lists the demo users');
  await page.fill('#key-name', 'e2e autopilot');
  await page.click('form[aria-label="Create an API key"] button[type=submit]');
  await page.waitForSelector('[data-testid=api-key-secret]', { timeout: 10_000 });
  check(/^nfk_/.test((await page.textContent('[data-testid=api-key-secret]')) ?? ''), 'a new API key secret is shown once');
  await page.waitForSelector('[data-testid=api-keys] tbody tr', { timeout: 10_000 });
  check(true, 'the new key is listed');
  await shot('admin');

  // 7. Settings: turning tiles off leaves the plain background and grid.
  await page.click('a[href="/settings"]');
  await page.fill('#tile-url', '');
  await page.click('form button[type=submit]');
  await page.click('a[href="/"]');
  await page.waitForSelector('#fleet-map .tile-notice');
  check(/tiles off/i.test((await page.textContent('#fleet-map .tile-notice')) ?? ''), 'with the tile URL empty the map says tiles are off and keeps its grid');
  check(await page.evaluate(() => localStorage.getItem('nimbus.tileUrl') === ''), 'the tile URL setting is stored in localStorage');
  await page.evaluate(() => localStorage.removeItem('nimbus.tileUrl'));

  // 7b. Log out: back to login.
  await page.click('[data-testid=logout]');
  await page.waitForSelector('#email', { timeout: 10_000 });
  check(page.url().includes('/login'), 'logging out returns to the login screen');
  check(await page.evaluate(() => sessionStorage.getItem('nimbus.token') === null), 'the token is gone');
  await shot('logged-out');

  // 8. The live indicator follows the connection: server down → reconnecting/offline; the
  // restarted server has forgotten the session, so the reconnect ends at the login screen.
  await login(page, base);
  await page.waitForFunction(() => window.__nimbus.liveStatus() === 'connected', null, { timeout: 15_000 });
  await server.halt();
  await page.waitForFunction(() => ['reconnecting', 'offline'].includes(window.__nimbus.liveStatus()), null, { timeout: 15_000 });
  const state = await page.getAttribute('[data-testid=live-status]', 'data-state');
  check(state === 'reconnecting' || state === 'offline', `the indicator shows the lost connection (${state})`);
  await shot('server-down');
  await server.start();
  await page.waitForSelector('[data-testid=login-message]', { timeout: 45_000 });
  check(/session/i.test((await page.textContent('[data-testid=login-message]')) ?? ''), 'after the restart the refused session returns to login with a message');

  // 9. A refused token sends the user to the login screen with a message.
  await page.evaluate(() => sessionStorage.setItem('nimbus.token', 'not-a-valid-token'));
  await page.goto(`${base}/plans`);
  await page.waitForSelector('[data-testid=login-message]', { timeout: 10_000 });
  check(/session/i.test((await page.textContent('[data-testid=login-message]')) ?? ''), 'a refused token returns to login with a message');

  // 10. A viewer sees plans but cannot create or transition them, and has no admin screen.
  await login(page, base, 'viewer@demo.nimbusfleet.local', 'demo-viewer-password');
  await page.click('a[href="/plans"]');
  await page.waitForSelector('[data-testid=plan-table]', { timeout: 10_000 });
  check((await page.$$('[data-testid=new-plan]')).length === 0, 'a viewer gets no "New flight plan" button');
  check((await page.$$('[data-testid=plan-table] .actions button')).length === 0, 'a viewer gets no plan actions');
  check((await page.$$('a[href="/admin"]')).length === 0, 'a viewer has no admin link');
  await shot('viewer-plans');

  check(errors.length === 0, `no uncaught page errors (${errors.join(' | ')})`);
});
console.log(`${passed} passed, 0 failed`);
