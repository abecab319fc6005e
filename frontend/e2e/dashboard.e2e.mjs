// End-to-end test of the dashboard against a real server with 10 simulated drones.
// Usage: NIMBUS_BIN=path/to/nimbusfleet node e2e/dashboard.e2e.mjs   (after `npm run build`)
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alertsScenario } from './alerts-scenario.mjs';
import { geofenceScenario } from './geofence-scenario.mjs';
import { login, run, SHOTS } from './harness.mjs';
import { replayScenario } from './replay-scenario.mjs';

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
  // Deleting and revoking ask window.confirm: accept.
  page.on('dialog', (d) => void d.accept());
  // The Content-Security-Policy must not get in the way of anything the dashboard does.
  const cspViolations = [];
  const watchCsp = (p) => p.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  watchCsp(page);
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
  check(/last 5 s/i.test((await page.textContent('.kpi:has([data-testid=kpi-pps]) .kpi-label')) ?? ''), 'the points-per-second KPI says it is the current rate (last 5 s)');
  check((await page.$$('.vt-row [data-col=seen]:text-is("never reported")')).length >= 1, 'drones that never reported say "never reported"');

  // 2b. Sorting, filters, keyboard focus, tooltips and follow mode.
  await page.click('.vt-head button[data-sort=battery]');
  check((await page.getAttribute('.vt-head [role=columnheader]:has(button[data-sort=battery])', 'aria-sort')) === 'ascending', 'a click on "Battery" sorts by battery');
  const batteries = await page.$$eval('.vt-row [data-col=battery]', (c) => c.map((e) => e.textContent).filter((t) => t !== '—').map((t) => parseFloat(t)));
  check(batteries.every((b, i) => i === 0 || batteries[i - 1] <= b), `rows are in battery order (${batteries.join(', ')})`);
  await page.click('.vt-head button[data-sort=name]');
  await page.selectOption('#filter-online', 'offline');
  // The filter applies in the next animation frame; the count already read "N of M" before it.
  const silent = (t) => t === 'never reported' || /min|h|d ago/.test(t);
  await page.waitForFunction(() => {
    const seen = [...document.querySelectorAll('.vt-row [data-col=seen]')].map((e) => e.textContent);
    return seen.length > 0 && seen.every((t) => t === 'never reported' || /min|h|d ago/.test(t));
  }, null, { timeout: 5000 }).catch(() => undefined);
  const offline = await page.$$eval('.vt-row [data-col=seen]', (c) => c.map((e) => e.textContent));
  const loud = offline.filter((t) => !silent(t));
  check(offline.length > 0 && loud.length === 0, `the offline filter keeps only silent drones (${offline.length} rows${loud.length ? `; reporting: ${loud.join(', ')}` : ''})`);
  await page.selectOption('#filter-online', '');
  await page.focus('.vt-viewport');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    return { row: el?.classList.contains('vt-row'), selected: el?.getAttribute('aria-selected'), id: el?.dataset.id };
  });
  check(focus.row && focus.selected === 'true', 'Enter selects the focused row and the focus stays on it');
  await page.waitForTimeout(1500);
  check(await page.evaluate((id) => document.activeElement?.dataset.id === id, focus.id), 'the focus is still on the row after live updates');
  const drawn = await page.evaluate(() => window.__nimbus.positions().find((p) => p.x > 20 && p.y > 20));
  const mapBox = await page.locator('#fleet-map').boundingBox();
  await page.mouse.move(mapBox.x + drawn.x, mapBox.y + drawn.y);
  await page.waitForSelector('.drone-tip:not([hidden])', { timeout: 5000 });
  const tip = await page.textContent('.drone-tip');
  check(/Battery .* %/.test(tip) && /altitude .* m/.test(tip), `hovering a drone shows its name, battery and altitude ("${tip}")`);
  await page.mouse.click(mapBox.x + drawn.x, mapBox.y + drawn.y);
  await page.click('[data-testid=follow]');
  check((await page.getAttribute('[data-testid=follow]', 'aria-pressed')) === 'true', 'a selected drone can be followed');
  await page.click('[data-testid=follow]');

  // 2c. The live subscription follows the view: zoomed in far it narrows to a padded bbox
  // (one reconnect, after the wheel stops), zoomed out again it covers the whole fleet.
  check((await page.evaluate(() => window.__nimbus.subscribedBbox())) === null, 'the whole-fleet view subscribes without a bbox');
  const opened = await page.evaluate(() => window.__nimbus.streamsOpened());
  for (let i = 0; i < 4; i++) {
    await page.mouse.move(mapBox.x + drawn.x, mapBox.y + drawn.y);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(150);
  }
  await page.waitForFunction(() => window.__nimbus.subscribedBbox() !== null, null, { timeout: 10_000 });
  // The new bbox is set at once; its stream opens once a ticket came back (asynchronously).
  await page.waitForFunction((n) => window.__nimbus.streamsOpened() > n, opened, { timeout: 10_000 });
  await page.waitForFunction(() => window.__nimbus.liveStatus() === 'connected', null, { timeout: 10_000 });
  // Long enough for a second, unwanted reconnect to show.
  await page.waitForTimeout(1500);
  const narrowed = await page.evaluate(() => window.__nimbus.streamsOpened());
  check(narrowed - opened === 1, `zooming in narrows the live stream to a bbox with one reconnect (${await page.evaluate(() => window.__nimbus.subscribedBbox())})`);
  for (let i = 0; i < 4; i++) {
    await page.mouse.wheel(0, 400);
    await page.waitForTimeout(150);
  }
  await page.waitForFunction(() => window.__nimbus.subscribedBbox() === null, null, { timeout: 10_000 });
  await page.waitForFunction((n) => window.__nimbus.streamsOpened() > n, narrowed, { timeout: 10_000 });
  await page.waitForTimeout(1500);
  check((await page.evaluate(() => window.__nimbus.streamsOpened())) - narrowed === 1, 'zooming out again subscribes to the whole fleet, one more reconnect');

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

  // 5b. Geofences: draw a prohibited polygon, then a plan whose leg crosses it is refused at that leg.
  await geofenceScenario({ page, check, shot });

  // 5c. Alerts: a prohibited circle around a flying drone raises a geofence breach, shown live
  // on /alerts and acknowledged there with a note.
  await alertsScenario({ page, base, check, shot });

  // 5d. Replay: the fleet at past instants of the last few minutes, scrubbed and played.
  await replayScenario({ page, base, check, shot });

  // 6. Admin opened directly (a reload): the drone list is there and "Create key" works.
  await page.goto(`${base}/admin`);
  await page.waitForSelector('[data-testid=users]', { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('#key-drone option').length >= 10, null, { timeout: 15_000 });
  check(!(await page.isVisible('text=No drones yet')), 'a reloaded /admin lists the drones for API keys');
  check((await page.$$('[data-testid=users] tbody tr[data-user]')).length >= 3, 'admin lists the demo users');
  await page.fill('#key-name', 'e2e autopilot');
  await page.click('form[aria-label="Create an API key"] button[type=submit]');
  await page.waitForSelector('[data-testid=api-key-secret]', { timeout: 10_000 });
  check(/^nfk_/.test((await page.textContent('[data-testid=api-key-secret]')) ?? ''), 'after a reload a new API key secret is shown once');
  await page.waitForSelector('[data-testid=api-keys] tbody tr', { timeout: 10_000 });
  check(true, 'the new key is listed');
  await shot('admin');

  // 6a. Webhooks: a private address is refused at the URL field; a public one is created
  // with its secret shown once and listed, paused, then deleted. Thresholds: saved.
  await page.fill('#wh-url', 'http://127.0.0.1:9/hook');
  await page.click('form[aria-label="Add a webhook"] button[type=submit]');
  await page.waitForSelector('form[aria-label="Add a webhook"] .field-error[data-field=url]:not(:empty)', { timeout: 10_000 });
  check(true, `a loopback webhook URL is refused at its field ("${await page.textContent('form[aria-label="Add a webhook"] .field-error[data-field=url]')}")`);
  await page.fill('#wh-url', 'https://hooks.example.com/nimbus');
  await page.click('form[aria-label="Add a webhook"] button[type=submit]');
  await page.waitForSelector('[data-testid=webhook-secret]', { timeout: 10_000 });
  check(/^whsec_/.test((await page.textContent('[data-testid=webhook-secret]')) ?? ''), 'a new webhook shows its whsec_ secret once');
  await page.waitForSelector('[data-testid=webhooks] tbody tr:has-text("hooks.example.com")', { timeout: 10_000 });
  check(true, 'the new webhook is listed');
  await page.click('[data-testid=webhooks] [data-testid=webhook-toggle]');
  await page.waitForSelector('[data-testid=webhooks] tbody tr:has-text("Paused")', { timeout: 10_000 });
  check(true, 'an admin pauses the webhook (If-Match)');
  await page.click('[data-testid=webhooks] [data-testid=webhook-delete]');
  await page.waitForFunction(() => !document.querySelector('[data-testid=webhooks] tbody tr'), null, { timeout: 10_000 });
  check(true, 'an admin deletes the webhook');
  await page.fill('#th-battery_warn_pct', '40');
  await page.click('[data-testid=thresholds] button[type=submit]');
  await page.waitForFunction(() => /Thresholds saved/.test(document.getElementById('toast')?.textContent ?? ''), null, { timeout: 10_000 });
  check(true, "an admin sets the organisation's battery warning threshold");
  await page.fill('#th-battery_warn_pct', '');
  await page.click('[data-testid=thresholds] button[type=submit]');
  await page.waitForFunction(() => /Now 30 %, the installation/.test(document.querySelector('[data-testid=thresholds]')?.textContent ?? ''), null, { timeout: 10_000 });
  check(true, "emptied, the threshold goes back to the installation's");

  // 6b. Users: create, change role, reset password, delete; errors at their field.
  await page.fill('#u-email', 'not-an-email');
  await page.fill('#u-password', 'short');
  await page.click('form[aria-label="Create a user"] button[type=submit]');
  await page.waitForSelector('form[aria-label="Create a user"] .field-error[data-field=email]:not(:empty)', { timeout: 10_000 });
  check(true, `a bad email is reported at the email field ("${await page.textContent('.field-error[data-field=email]')}")`);
  await page.fill('#u-email', 'e2e.user@demo.nimbusfleet.local');
  await page.fill('#u-password', 'e2e-password-123');
  await page.click('form[aria-label="Create a user"] button[type=submit]');
  const userRow = 'tr[data-user="e2e.user@demo.nimbusfleet.local"]';
  await page.waitForSelector(userRow, { timeout: 10_000 });
  check(true, 'an admin creates a user');
  await page.selectOption(`${userRow} [data-testid=user-role]`, 'viewer');
  await page.waitForFunction((r) => document.querySelector(`${r} [data-testid=user-role]`)?.value === 'viewer' && /is now viewer/.test(document.getElementById('toast')?.textContent ?? ''), userRow, { timeout: 10_000 });
  check(true, "an admin changes the user's role");
  await page.click(`${userRow} [data-testid=reset-password]`);
  await page.fill(`${userRow} + tr.user-password input[name=password]`, 'another-password-456');
  await page.click(`${userRow} + tr.user-password button[type=submit]`);
  await page.waitForFunction(() => /Password of .* changed/.test(document.getElementById('toast')?.textContent ?? ''), null, { timeout: 10_000 });
  check(true, "an admin resets the user's password");
  await page.click(`${userRow} [data-testid=delete-user]`);
  await page.waitForFunction((r) => !document.querySelector(r), userRow, { timeout: 10_000 });
  check(true, 'an admin deletes the user');

  // 6c. Register a drone (a field error first), edit it, delete it.
  await page.click('a[href="/"]');
  await page.click('[data-testid=register-drone]');
  await page.waitForSelector('[data-testid=register-form]');
  await page.fill('#new-name', 'E2E Lifter');
  await page.fill('#new-serial', 'E2E-0001');
  await page.fill('#new-model', 'Lifter 2');
  await page.fill('#new-max_altitude_m', '-5');
  await page.click('[data-testid=register-form] button[type=submit]');
  await page.waitForSelector('.field-error[data-field=max_altitude_m]:not(:empty)', { timeout: 10_000 });
  check(true, `a bad maximum altitude is reported at its field ("${await page.textContent('.field-error[data-field=max_altitude_m]')}")`);
  await page.fill('#new-max_altitude_m', '120');
  await page.click('[data-testid=register-form] button[type=submit]');
  await page.waitForSelector('h1:text-is("E2E Lifter")', { timeout: 10_000 });
  check(true, 'an admin registers a drone and lands on its page');
  await page.click('button:has-text("Edit details")');
  await page.fill('#drone-name', 'E2E Lifter II');
  await page.click('form.form-grid button[type=submit]');
  await page.waitForSelector('h1:text-is("E2E Lifter II")', { timeout: 10_000 });
  check(true, 'the new drone is edited');
  await page.click('[data-testid=delete-drone]');
  await page.waitForSelector('[data-testid=fleet-map]', { timeout: 10_000 });
  const gone = await page.evaluate(async () => {
    const r = await fetch('/api/v1/drones?q=E2E-0001', { headers: { authorization: `Bearer ${sessionStorage.getItem('nimbus.token')}` } });
    return (await r.json()).items.length;
  });
  check(gone === 0, 'the drone is deleted');

  // 6d. A draft is edited in the plan editor, submitted, and rejected with a reason.
  await page.click('a[href="/plans"]');
  await page.click('[data-testid=new-plan]');
  await page.waitForSelector('[data-testid=plan-map]');
  await page.waitForTimeout(500);
  check(/\(UTC\)/.test((await page.textContent('label[for=plan-start]')) ?? ''), 'the editor names the time zone of its times (UTC)');
  await clickAt(-30, -20);
  await clickAt(30, 20);
  await page.fill('#plan-name', 'E2E draft');
  await page.click('[data-testid=save-draft]');
  await page.waitForURL(/\/plans\?state=draft/, { timeout: 15_000 });
  await page.locator('[data-testid=plan-table] tr[data-state=draft]', { hasText: 'E2E draft' }).locator('[data-testid=edit-plan]').click();
  await page.waitForSelector('[data-testid=plan-form]');
  check((await page.$$('[data-testid=waypoints] li.wp')).length === 2, 'the draft opens in the editor with its two waypoints');
  await page.waitForTimeout(300);
  await clickAt(0, 40);
  await page.fill('#plan-name', 'E2E draft (edited)');
  await page.locator('[data-testid=wp-alt_m]').nth(2).fill('5000');
  await page.click('[data-testid=submit-plan]');
  await page.waitForSelector('li.wp[data-index="2"] [data-testid=wp-error]', { timeout: 10_000 });
  check(page.url().includes('/edit'), 'an invalid edit stays in the editor, the error at waypoint 3');
  await page.locator('[data-testid=wp-alt_m]').nth(2).fill('60');
  await page.click('[data-testid=submit-plan]');
  await page.waitForURL(/\/plans\?state=submitted/, { timeout: 15_000 });
  const edited = page.locator('[data-testid=plan-table] tr[data-state=submitted]', { hasText: 'E2E draft (edited)' });
  await edited.waitFor({ timeout: 10_000 });
  check((await edited.textContent()).includes('3 waypoints'), 'the edited draft is submitted with its new name and three waypoints');
  await edited.locator('button', { hasText: 'Reject' }).click();
  await page.fill('[data-testid=reject-reason]', 'crosses the lake approach corridor');
  await page.click('[data-testid=confirm-reject]');
  await page.waitForFunction(() => /is now rejected/.test(document.getElementById('toast')?.textContent ?? ''), null, { timeout: 10_000 });
  await page.click('.tabs button:has-text("rejected")');
  const rejected = page.locator('[data-testid=plan-table] tr[data-state=rejected]', { hasText: 'E2E draft (edited)' });
  await rejected.waitFor({ timeout: 10_000 });
  check((await rejected.locator('[data-testid=rejection-reason]').textContent()).includes('crosses the lake approach corridor'), 'a plan rejected with a reason shows the reason');
  await shot('plan-rejected');

  // 6e. Dark mode: the toggle, and the system setting when the toggle is on "system".
  await page.click('a[href="/"]');
  await page.waitForSelector('[data-testid=fleet-map]');
  await page.click('[data-testid=theme-toggle]');
  check((await page.getAttribute('html', 'data-resolved-theme')) === 'dark', 'the theme toggle switches to dark');
  const bg = await page.evaluate(() => getComputedStyle(document.querySelector('.side')).backgroundColor);
  check(/rgb\((\d+), (\d+), (\d+)\)/.test(bg) && bg.match(/\d+/g).slice(0, 3).every((c) => Number(c) < 80), `dark mode darkens the page (${bg})`);
  await page.waitForTimeout(500);
  await shot('dark');
  await page.click('[data-testid=theme-toggle]');
  await page.click('[data-testid=theme-toggle]');
  check((await page.evaluate(() => localStorage.getItem('nimbus.theme'))) === null, 'the toggle returns to following the system');
  const themeIs = (t) => page.waitForFunction((t) => document.documentElement.dataset.resolvedTheme === t, t, { timeout: 5000 }).then(() => true, () => false);
  await page.emulateMedia({ colorScheme: 'dark' });
  check(await themeIs('dark'), 'with the toggle on "system", prefers-color-scheme: dark gives dark');
  await page.emulateMedia({ colorScheme: 'light' });
  check(await themeIs('light'), 'and light gives light');

  // 6f. A phone (390 × 844): nothing truncated in the visible columns, header and KPIs small.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  phone.on('pageerror', (e) => errors.push(String(e)));
  await phone.goto(`${base}/login`);
  await phone.evaluate((t) => sessionStorage.setItem('nimbus.token', t), await page.evaluate(() => sessionStorage.getItem('nimbus.token')));
  await phone.goto(`${base}/`);
  await phone.waitForSelector('.vt-row', { timeout: 15_000 });
  await phone.waitForTimeout(1500);
  const layout = await phone.evaluate(() => {
    const visible = (e) => e.offsetParent !== null && getComputedStyle(e).display !== 'none';
    const cut = [...document.querySelectorAll('.vt-head [role=columnheader], .vt-row [role=cell], .vt-row .linkish, .vt-row small')]
      .filter(visible).filter((e) => e.scrollWidth > e.clientWidth + 0.5).map((e) => `${e.dataset.col ?? e.tagName}: ${e.textContent}`);
    const top = document.querySelector('.kpis').getBoundingClientRect().bottom;
    return { cut, columns: [...document.querySelectorAll('.vt-head [role=columnheader]')].filter(visible).length, top, width: document.documentElement.scrollWidth };
  });
  await phone.screenshot({ path: join(SHOTS, `${String(++step).padStart(2, '0')}-phone-390.png`) });
  check(layout.columns >= 4, `the phone shows ${layout.columns} columns`);
  check(layout.cut.length === 0, `no truncated cell at 390 px (${layout.cut.join(' | ')})`);
  check(layout.top < 844 * 0.2, `header and KPIs take ${Math.round(layout.top)} px of 844`);
  check(layout.width <= 390, `the page does not scroll sideways (${layout.width} px)`);
  await phone.close();

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
  check((await page.$$('nav a[href="/replay"]')).length === 1, 'a viewer has the Replay link');
  await shot('viewer-plans');

  // The API docs work under their policy too.
  const docs = await browser.newPage();
  watchCsp(docs);
  await docs.goto(`${base}/docs/`);
  await docs.waitForSelector('.swagger-ui .info', { timeout: 15_000 });
  check(await docs.isVisible('text=NimbusFleet'), 'the API docs render');
  await docs.close();
  const csp = (await fetch(`${base}/`)).headers.get('content-security-policy') ?? '';
  check(csp.includes("script-src 'self'"), 'the dashboard is served with a Content-Security-Policy');
  check(cspViolations.length === 0, `no Content-Security-Policy violations (${cspViolations.join(' | ')})`);

  check(errors.length === 0, `no uncaught page errors (${errors.join(' | ')})`);
});
console.log(`${passed} passed, 0 failed`);
