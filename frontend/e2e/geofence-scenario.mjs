// The geofence part of the dashboard end-to-end test (issue 17): draw a prohibited polygon by
// clicking the map, see it on the fleet map, edit, export and import, then make a plan whose
// leg crosses it (both waypoints outside) and find the refusal at that leg. The fence is
// deleted at the end, so that the later scenarios plan freely.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** GET through the page, with its session. */
const apiGet = (page, path) => page.evaluate(async (p) => {
  const r = await fetch(`/api/v1${p}`, { headers: { authorization: `Bearer ${sessionStorage.getItem('nimbus.token')}` } });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status}`);
  return r.json();
}, path);

/** Clicks the page's editor map (window.__nimbus.map) at a latitude and longitude. */
async function clickAtLatLon(page, testid, lat, lon) {
  const box = await page.locator(`[data-testid=${testid}]`).boundingBox();
  const p = await page.evaluate(([la, lo]) => window.__nimbus.map.latLngToContainerPoint([la, lo]), [lat, lon]);
  if (p.x < 0 || p.y < 0 || p.x > box.width || p.y > box.height) throw new Error(`${lat}, ${lon} is outside the map (${p.x}, ${p.y})`);
  await page.mouse.click(box.x + p.x, box.y + p.y);
}

export async function geofenceScenario({ page, check, shot }) {
  const name = `E2E no-fly ${Date.now().toString(36)}`;

  // Draw a square by clicking four corners, then the first one again to close it.
  await page.click('nav a[href="/geofences"]');
  await page.waitForSelector('[data-testid=new-fence]', { timeout: 10_000 });
  await page.click('[data-testid=new-fence]');
  await page.waitForSelector('[data-testid=fence-map].leaflet-container', { timeout: 15_000 });
  await page.fill('#fence-name', name);
  await page.selectOption('#fence-kind', 'prohibited');
  await page.fill('#fence-lower', '0');
  await page.fill('#fence-upper', '500');
  await page.click('[data-testid=draw-polygon]');
  await page.waitForFunction(() => /^Drawing/.test(document.querySelector('[data-testid=shape-state]')?.textContent ?? ''), null, { timeout: 5000 });
  const box = await page.locator('[data-testid=fence-map]').boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  for (const [dx, dy] of [[-60, -60], [60, -60], [60, 60], [-60, 60], [-60, -60]]) await page.mouse.click(cx + dx, cy + dy);
  await page.waitForFunction(() => /Polygon with 4 corners/.test(document.querySelector('[data-testid=shape-state]')?.textContent ?? ''), null, { timeout: 5000 });
  check(true, 'a polygon is drawn on the geofence map by clicking its corners and closing it on the first');
  await shot('geofence-drawn');
  await page.click('[data-testid=save-fence]');
  await page.waitForURL(/\/geofences$/, { timeout: 15_000 });
  const row = page.locator('[data-testid=fence-table] tbody tr', { hasText: name });
  await row.waitFor({ timeout: 10_000 });
  check((await row.getAttribute('data-kind')) === 'prohibited' && (await row.textContent()).includes('0–500 m'), `the new fence is listed as prohibited, 0–500 m ("${(await row.textContent()).trim()}")`);
  const fences = await apiGet(page, '/geofences?kind=prohibited&limit=500');
  const fence = fences.items.find((f) => f.name === name);
  check(fence?.geometry?.type === 'Polygon' && fence.geometry.coordinates[0].length === 5, 'the server holds it as a closed GeoJSON ring of 4 corners');

  // Edit it (PATCH with If-Match): the new upper limit is listed.
  await row.locator('a[aria-label^="Edit geofence"]').click();
  await page.waitForSelector('[data-testid=fence-form]', { timeout: 10_000 });
  await page.waitForFunction(() => /Polygon with 4 corners/.test(document.querySelector('[data-testid=shape-state]')?.textContent ?? ''), null, { timeout: 10_000 });
  await page.fill('#fence-upper', '400');
  await page.click('[data-testid=save-fence]');
  await page.waitForURL(/\/geofences$/, { timeout: 15_000 });
  await page.locator('[data-testid=fence-table] tbody tr', { hasText: name }).filter({ hasText: '0–400 m' }).waitFor({ timeout: 10_000 });
  check(true, 'the fence is edited: its new upper limit is listed');

  // Export downloads GeoJSON with the fence; a FeatureCollection imports.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.click('[data-testid=export-fences]')]);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  check(download.suggestedFilename().endsWith('.geojson') && exported.type === 'FeatureCollection' && exported.features.some((f) => f.properties?.name === name),
    `the export downloads a FeatureCollection with the fence (${download.suggestedFilename()}, ${exported.features.length} features)`);
  const importDir = await mkdtemp(join(tmpdir(), 'nimbus-import-'));
  const importPath = join(importDir, 'e2e-import.geojson');
  await writeFile(importPath, JSON.stringify({ type: 'FeatureCollection', features: [{
    type: 'Feature',
    geometry: { type: 'Polygon', coordinates: [[[0.01, 0.01], [0.02, 0.01], [0.02, 0.02], [0.01, 0.01]]] },
    properties: { name: `${name} imported`, kind: 'advisory', lower_m: 0, upper_m: 100, datum: 'agl', active: true },
  }] }));
  await page.setInputFiles('[data-testid=import-file]', importPath);
  await rm(importDir, { recursive: true, force: true });
  await page.waitForSelector('[data-testid=import-result]', { timeout: 15_000 });
  check(/Imported 1 geofence\b/.test(await page.textContent('[data-testid=import-result]')), `an import reports what it created ("${(await page.textContent('[data-testid=import-result]')).trim()}")`);

  // The fleet map draws it.
  await page.click('nav a[href="/"]');
  await page.waitForFunction((id) => window.__nimbus.fences().some((f) => f.id === id), fence.id, { timeout: 15_000 });
  check(true, 'the fleet map draws the new fence');

  // A plan from west of the fence to east of it, both waypoints outside: refused at leg 1.
  const ring = fence.geometry.coordinates[0];
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  const west = Math.min(...lons);
  const east = Math.max(...lons);
  const lat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const margin = (east - west) * 0.75;
  await page.click('nav a[href="/plans"]');
  await page.click('[data-testid=new-plan]');
  await page.waitForSelector('[data-testid=plan-map].leaflet-container', { timeout: 10_000 });
  await page.waitForFunction((id) => window.__nimbus.fences().some((f) => f.id === id), fence.id, { timeout: 15_000 });
  check(true, 'the plan editor map draws the fence');
  // The user pans to the fence; the test moves the view there at once.
  await page.evaluate(([la, w, e]) => window.__nimbus.map.fitBounds([[la, w], [la, e]], { padding: [80, 80], animate: false }), [lat, west - margin, east + margin]);
  await clickAtLatLon(page, 'plan-map', lat, west - margin);
  await clickAtLatLon(page, 'plan-map', lat, east + margin);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=waypoints] li.wp').length === 2, null, { timeout: 5000 });
  await page.fill('#plan-name', 'E2E through the fence');
  await page.click('[data-testid=save-draft]');
  await page.waitForSelector('li.wp[data-index="0"] [data-testid=leg-error]', { timeout: 15_000 });
  const legErrors = await page.$$eval('li.wp[data-index="0"] [data-testid=leg-error]', (els) => els.map((e) => e.textContent));
  const legError = legErrors.find((t) => t.includes(`crosses ${name} (prohibited) at`)) ?? legErrors.join(' | ');
  check(legError.includes(`crosses ${name} (prohibited) at`) && /at \d+ m/.test(legError), `the refusal is shown at the leg it names ("${legError}")`);
  check((await page.$$('li.wp[data-index="1"] [data-testid=leg-error]')).length === 0, 'the last waypoint, which starts no leg, has no leg error');
  check(page.url().endsWith('/plans/new'), 'the refused plan was not saved: the editor still makes a new plan');
  await shot('plan-crosses-fence');

  // Delete the fences again (the scenarios after this one plan near the drones).
  await page.click('nav a[href="/geofences"]');
  for (const n of [`${name} imported`, name]) {
    const r = page.locator('[data-testid=fence-table] tbody tr', { hasText: n });
    await r.first().waitFor({ timeout: 10_000 });
    await r.first().locator('[data-testid=delete-fence]').click();
    await page.waitForFunction((t) => ![...document.querySelectorAll('[data-testid=fence-table] tbody tr')].some((e) => e.textContent.includes(t)) && /deleted/.test(document.getElementById('toast')?.textContent ?? ''), n, { timeout: 10_000 });
  }
  check(!(await apiGet(page, '/geofences?limit=500')).items.some((f) => f.name.startsWith(name)), 'the fences are deleted');
}
