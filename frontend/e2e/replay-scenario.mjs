// The airspace replay part of the dashboard end-to-end test: /replay as the demo user, a
// span over the last few minutes (the simulated drones have reported at 1 Hz since the
// server started, and earlier steps ran for more than a minute), scrubbing to two instants
// (the fleet the API places there is drawn, the instant shown changes), Play at 10× moving
// the slider on, Pause and leaving the screen ending the stream.
import { login } from './harness.mjs';

const MINUTE = 60_000;

/** A `datetime-local` value in UTC (the dashboard's default zone), to the minute. */
const utcInput = (t) => new Date(t).toISOString().slice(0, 16);
/** RFC 3339 as the API writes a whole second: `2026-12-01T10:15:00Z`. */
const rfc3339 = (t) => new Date(t).toISOString().replace('.000Z', 'Z');

/** GET through the page, with its session. */
const apiGet = (page, path) => page.evaluate(async (p) => {
  const r = await fetch(`/api/v1${p}`, { headers: { authorization: `Bearer ${sessionStorage.getItem('nimbus.token')}` } });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}, path);

/** What the screen shows: the count line, the instants, the drones drawn, the slider. */
const readout = (page) => page.evaluate(() => {
  const count = document.querySelector('[data-testid=replay-count]');
  return {
    at: count.dataset.at ?? null,
    count: Number(count.dataset.count ?? -1),
    text: count.textContent,
    utc: document.querySelector('[data-testid=replay-instant-utc]').textContent,
    local: document.querySelector('[data-testid=replay-instant-local]').textContent,
    drawn: window.__nimbus.positions(),
    position: Number(document.querySelector('[data-testid=replay-slider]').value),
  };
});

export async function replayScenario({ page, base, check, shot }) {
  await login(page, base);
  await page.click('nav a[href="/replay"]');
  await page.waitForSelector('[data-testid=replay-map].leaflet-container', { timeout: 10_000 });
  const [shownFrom, shownTo] = await page.evaluate(() => ['from', 'to'].map((k) => document.querySelector(`[data-testid=replay-${k}]`).value));
  check(Date.parse(`${shownTo}Z`) - Date.parse(`${shownFrom}Z`) === 60 * MINUTE, `the replay opens on the last hour (${shownFrom} – ${shownTo} UTC)`);

  // A span from a few minutes ago to a minute ahead, so that Play cannot reach its end here.
  const now = Date.now();
  const from = Math.floor(now / MINUTE) * MINUTE - 4 * MINUTE;
  const to = Math.ceil(now / MINUTE) * MINUTE + MINUTE;
  await page.fill('[data-testid=replay-from]', utcInput(from));
  await page.fill('[data-testid=replay-to]', utcInput(to));
  await page.waitForFunction((max) => document.querySelector('[data-testid=replay-slider]').max === String(max), (to - from) / 1000, { timeout: 5000 });
  check(true, `a span over the last few minutes is picked (${utcInput(from)} – ${utcInput(to)} UTC, one slider step a second)`);

  const slider = page.locator('[data-testid=replay-slider]');
  /** Scrubs to `t` (to the second), waits for its frame and compares what is drawn (after
   * the next animation frame) with what the API answers for that instant. */
  const scrubTo = async (t) => {
    const position = Math.round((t - from) / 1000);
    const at = rfc3339(from + position * 1000);
    await slider.fill(String(position));
    await page.waitForFunction((a) => document.querySelector('[data-testid=replay-count]')?.dataset.at === a, at, { timeout: 10_000 });
    const expected = (await apiGet(page, `/fleet/positions?at=${encodeURIComponent(at)}&window=60s`)).items;
    const drawn = await page.waitForFunction((want) => {
      const d = window.__nimbus.positions();
      return d.length === want.length && want.every((p) => d.some((e) => e.id === p.drone_id && e.lat === p.lat && e.lon === p.lon));
    }, expected, { timeout: 5000 }).then(() => true, () => false);
    return { at, expected, drawn, shown: await readout(page) };
  };

  const first = await scrubTo(now - 20_000);
  check(first.expected.length >= 1 && first.drawn && first.shown.count === first.expected.length,
    `scrubbed to ${first.at}: the drones the API places there are drawn where it places them (${first.shown.drawn.length} drawn, ${first.expected.length} from the API)`);
  check(first.shown.text === `${first.shown.count} drone${first.shown.count === 1 ? '' : 's'} at ${first.at.slice(11, 19)} UTC`, `the screen says "${first.shown.text}"`);
  check(first.shown.utc === `${first.at.slice(0, 10)} ${first.at.slice(11, 19)} UTC` && first.shown.local.length > 0,
    `the instant is shown in local time and UTC ("${first.shown.local}", "${first.shown.utc}")`);

  const second = await scrubTo(now - 10_000);
  check(second.shown.utc !== first.shown.utc && second.shown.utc.includes(second.at.slice(11, 19)) && second.drawn && second.shown.count >= 1,
    `scrubbing on changes the instant shown and the drones drawn ("${first.shown.utc}" → "${second.shown.utc}", ${second.shown.count} drones)`);
  const moved = second.shown.drawn.filter((d) => first.shown.drawn.some((e) => e.id === d.id && (e.lat !== d.lat || e.lon !== d.lon)));
  console.log(`  note: ${moved.length} of ${second.shown.drawn.length} drones moved between the two instants`);
  await shot('replay-scrubbed');

  // Play at 10× (one-second steps: ten frames a second), then pause.
  await page.selectOption('[data-testid=replay-speed]', '10');
  const framesBefore = await page.evaluate(() => window.__nimbus.replayFrames);
  await page.click('[data-testid=replay-play]');
  check((await page.getAttribute('[data-testid=replay-play]', 'aria-pressed')) === 'true', 'Play starts the replay (the button now pauses)');
  await page.waitForFunction((p) => Number(document.querySelector('[data-testid=replay-slider]').value) >= p + 5, second.shown.position, { timeout: 10_000 });
  const playing = await readout(page);
  const streams = await page.evaluate(() => window.__nimbus.replayStreams);
  check(playing.position >= second.shown.position + 5 && Date.parse(playing.at) > Date.parse(second.at) && playing.drawn.length >= 1,
    `playing moves the slider on (position ${second.shown.position} → ${playing.position}, frame at ${playing.at}, ${playing.drawn.length} drones drawn)`);
  check(streams === 1 && (await page.evaluate(() => window.__nimbus.replayFrames)) > framesBefore, 'the frames come from one replay stream');
  await shot('replay-playing');

  await page.click('[data-testid=replay-play]');
  await page.waitForFunction(() => window.__nimbus.replayStreams === 0, null, { timeout: 5000 });
  const pausedAt = Number(await slider.inputValue());
  // Long enough for a frame of a stream still being read to show.
  await page.waitForTimeout(1000);
  check(Number(await slider.inputValue()) === pausedAt && (await page.getAttribute('[data-testid=replay-play]', 'aria-pressed')) === 'false',
    `Pause ends the stream and the slider stays at ${pausedAt}`);

  // Leaving the screen while playing ends the stream too.
  await page.click('[data-testid=replay-play]');
  await page.waitForFunction(() => window.__nimbus.replayStreams === 1, null, { timeout: 5000 });
  await page.click('nav a[href="/"]');
  await page.waitForSelector('[data-testid=fleet-map]', { timeout: 10_000 });
  await page.waitForFunction(() => window.__nimbus.replayStreams === 0, null, { timeout: 5000 });
  check(true, 'leaving the replay screen while it plays ends its stream');
}
