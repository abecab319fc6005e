// Performance of the fleet view with 1,000 simulated drones: frame times and update lag,
// measured in the page for ~20 s, printed as one JSON line.
// Usage: NIMBUS_BIN=path/to/nimbusfleet node e2e/perf.mjs   (after `npm run build`)
import { join } from 'node:path';
import { login, run, SHOTS } from './harness.mjs';

const DRONES = Number(process.env.PERF_DRONES ?? 1000);
const SECONDS = Number(process.env.PERF_SECONDS ?? 20);

await run('perf', DRONES, async ({ base, browser }) => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await login(page, base);
  const t0 = Date.now();
  let onMap = 0;
  try {
    await page.waitForFunction((n) => window.__nimbus.positions().length >= n, DRONES, { timeout: 180_000, polling: 1000 });
  } finally {
    onMap = await page.evaluate(() => window.__nimbus.positions().length);
  }
  const waitedS = (Date.now() - t0) / 1000;
  await page.waitForTimeout(2000);
  const result = await page.evaluate(async (seconds) => {
    const pct = (xs, p) => {
      if (xs.length === 0) return null;
      const s = [...xs].sort((a, b) => a - b);
      return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
    };
    const frames = [];
    window.__nimbus.lagSamples = [];
    window.__nimbus.clientLagSamples = [];
    window.__nimbus.recordLag = true;
    const events0 = window.__nimbus.liveEvents();
    await new Promise((done) => {
      const end = performance.now() + seconds * 1000;
      let last = performance.now();
      const tick = (now) => {
        frames.push(now - last);
        last = now;
        if (now < end) requestAnimationFrame(tick);
        else done();
      };
      requestAnimationFrame(tick);
    });
    window.__nimbus.recordLag = false;
    const lag = window.__nimbus.lagSamples;
    return {
      frames: frames.length,
      frame_ms_p50: pct(frames, 50),
      frame_ms_p95: pct(frames, 95),
      frame_ms_max: Math.round(Math.max(...frames) * 10) / 10,
      frames_over_50ms: frames.filter((f) => f > 50).length,
      lag_samples: lag.length,
      lag_ms_p50: pct(lag, 50),
      lag_ms_p95: pct(lag, 95),
      // Event received by the browser → drawn: the dashboard's own share of the lag.
      client_lag_ms_p50: pct(window.__nimbus.clientLagSamples, 50),
      client_lag_ms_p95: pct(window.__nimbus.clientLagSamples, 95),
      live_events: window.__nimbus.liveEvents() - events0,
      dom_rows: document.querySelectorAll('.vt-row').length,
    };
  }, SECONDS);
  await page.screenshot({ path: join(SHOTS, `perf-${DRONES}.png`) });
  console.log(JSON.stringify({ figure: 'dashboard_perf', drones: DRONES, on_map: onMap, wait_for_drones_s: waitedS, seconds: SECONDS, ...result }));
});
