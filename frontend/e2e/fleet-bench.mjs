// Fleet page at scale in Chromium against a real server and simulator: frames per second
// (requestAnimationFrame counting) idle and while zooming and panning, long tasks
// (PerformanceObserver "longtask"), search and selection latency, JS heap (CDP, after GC).
// One JSON line per figure, each beside a reference measured in the same run (the frame
// rate of an empty page in the same browser).
//
//   node e2e/fleet-bench.mjs                 # quick: 2,000 drones, ~1 min (CI)
//   node e2e/fleet-bench.mjs --full          # 10,000 and 50,000 drones
//   BENCH_DRONES=10000 BENCH_SOAK_S=600 node e2e/fleet-bench.mjs   # one size, 10-minute heap run
//   … --no-tiles                             # map tiles off (offline, tile requests fail and churn)
// NIMBUS_BIN: the server binary. After `npm run build`.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, login, SHOTS, startServer } from './harness.mjs';

const full = process.argv.includes('--full');
const sizes = process.env.BENCH_DRONES ? process.env.BENCH_DRONES.split(',').map(Number) : full ? [10_000, 50_000] : [2000];
const measureS = Number(process.env.BENCH_SECONDS ?? (full ? 20 : 10));
const soakS = Number(process.env.BENCH_SOAK_S ?? 0);
const tiles = process.argv.includes('--no-tiles') ? 'off' : 'default';
// BENCH_PROFILE=1: a CPU profile of the page's main thread while zooming and panning, its
// heaviest functions by self time on stderr.
const profile = process.env.BENCH_PROFILE === '1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const print = (figure, drones, fields) => console.log(JSON.stringify({ figure, drones, ...fields }));

/** `nimbusfleet simulate` with `drones` drones at 1 Hz, until stopped. */
function simulate(base, drones) {
  const log = createWriteStream(join(SHOTS, `bench-sim-${drones}.log`));
  const child = spawn(process.env.NIMBUS_BIN, ['simulate', '--url', base, '--email', 'operator@demo.nimbusfleet.local', '--drones', String(drones), '--rate', '1', '--concurrency', '4'], {
    env: { ...process.env, NIMBUS_SIM_PASSWORD: 'demo-operator-password' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = false;
  child.on('exit', () => { exited = true; });
  return {
    get exited() { return exited; },
    async stop() {
      if (exited) return;
      child.kill('SIGINT');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** Frames counted with requestAnimationFrame for `ms`, and the long tasks meanwhile. */
async function frames(page, ms) {
  return page.evaluate(async (ms) => {
    const long = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push(e.duration); });
    obs.observe({ type: 'longtask' });
    const gaps = [];
    await new Promise((done) => {
      const start = performance.now();
      let last = start;
      const tick = (now) => {
        gaps.push(now - last);
        last = now;
        if (now - start < ms) requestAnimationFrame(tick);
        else done();
      };
      requestAnimationFrame(tick);
    });
    obs.disconnect();
    const sorted = [...gaps].sort((a, b) => a - b);
    const total = gaps.reduce((a, b) => a + b, 0);
    return {
      fps: Math.round((gaps.length / total) * 1000 * 10) / 10,
      frame_ms_p95: Math.round(sorted[Math.floor(sorted.length * 0.95)] * 10) / 10,
      frame_ms_max: Math.round(sorted[sorted.length - 1] * 10) / 10,
      long_tasks: long.length,
      long_task_ms_total: Math.round(long.reduce((a, b) => a + b, 0)),
      long_task_ms_max: Math.round(Math.max(0, ...long)),
    };
  }, ms);
}

function printProfile(drones, prof) {
  const self = new Map();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000);
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  console.error(`fleet-bench: profile at ${drones} drones, self time (ms):`);
  for (const [k, v] of top) console.error(`  ${v.toFixed(1).padStart(8)}  ${k}`);
}

/** The renderer main thread's time by trace event (self time of complete events). */
function printTrace(drones, trace) {
  const events = trace.traceEvents ?? trace;
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const mine = events.filter((e) => e.ph === 'X' && main && e.pid === main.pid && e.tid === main.tid && e.dur);
  const total = new Map();
  const long = [];
  for (const e of mine) {
    total.set(e.name, (total.get(e.name) ?? 0) + e.dur / 1000);
    if (e.name === 'RunTask' && e.dur > 50_000) long.push(e);
  }
  console.error(`fleet-bench: trace at ${drones} drones, main-thread time by event (ms, nested events counted in each):`);
  for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.error(`  ${v.toFixed(1).padStart(8)}  ${k}`);
  // What the long tasks were made of: the events directly inside each.
  const inside = new Map();
  for (const t of long) {
    for (const e of mine) {
      if (e === t || e.ts < t.ts || e.ts + e.dur > t.ts + t.dur) continue;
      inside.set(e.name, (inside.get(e.name) ?? 0) + e.dur / 1000);
    }
  }
  console.error(`fleet-bench: ${long.length} tasks over 50 ms, made of (ms):`);
  for (const [k, v] of [...inside].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.error(`  ${v.toFixed(1).padStart(8)}  ${k}`);
}

async function heapMb(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return Math.round((usedSize / 1048576) * 10) / 10;
}

/** Wheel-zooms and drags the map while frames are counted. */
async function zoomAndPan(page, ms) {
  const box = await page.locator('#fleet-map').boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const measuring = frames(page, ms);
  const end = Date.now() + ms - 500;
  let i = 0;
  while (Date.now() < end) {
    await page.mouse.move(cx, cy);
    if (i % 4 < 2) await page.mouse.wheel(0, i % 4 === 0 ? -300 : 300);
    else {
      const d = i % 4 === 2 ? 120 : -120;
      await page.mouse.down();
      await page.mouse.move(cx + d, cy + d / 2, { steps: 8 });
      await page.mouse.up();
    }
    i += 1;
    await sleep(350);
  }
  return { ...(await measuring), gestures: i };
}

async function searchLatency(page, drones) {
  // Names of the simulator's drones: "Simulator 0042"; pick a few across the fleet.
  const samples = [];
  for (const n of [7, Math.floor(drones / 3), drones - 1]) {
    const q = `SIM-${String(n).padStart(4, '0')}`;
    samples.push(await page.evaluate(async (q) => {
      const input = document.getElementById('drone-search');
      const t0 = performance.now();
      input.value = q;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const first = document.querySelector('.vt-row small');
        if (first && first.textContent.includes(q)) break;
        if (performance.now() - t0 > 5000) return -1;
      }
      return performance.now() - t0;
    }, q));
  }
  await page.evaluate(() => {
    const input = document.getElementById('drone-search');
    input.value = '';
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
  return samples;
}

async function selectionLatency(page) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    samples.push(await page.evaluate(async (i) => {
      const rows = document.querySelectorAll('.vt-row');
      const row = rows[Math.min(rows.length - 1, i * 2 + 1)];
      const id = row.dataset.id;
      const t0 = performance.now();
      row.querySelector('button.linkish').click();
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (window.__nimbus.layer?.selected === id && row.getAttribute('aria-selected') === 'true' && document.querySelector('[data-testid=selection] strong')) break;
        if (performance.now() - t0 > 5000) return -1;
      }
      return performance.now() - t0;
    }, i));
  }
  return samples;
}

const ms = (xs) => ({ ms_max: Math.round(Math.max(...xs)), ms_median: Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]) });

let failed = false;
const browser = await launchBrowser();
try {
  const blank = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await blank.setContent('<p>reference</p>');
  const reference = await frames(blank, 3000);
  await blank.close();
  for (const drones of sizes) {
    const server = await startServer(0);
    const sim = simulate(server.base, drones);
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      const cdp = await page.context().newCDPSession(page);
      if (tiles === 'off') await page.addInitScript(() => localStorage.setItem('nimbus.tileUrl', ''));
      await login(page, server.base);
      const heap0 = await heapMb(cdp);
      const t0 = Date.now();
      // Wait until (nearly) the whole fleet streams: registration of 50,000 drones takes a while.
      await page.waitForFunction((n) => window.__nimbus.liveCount() >= n * 0.98, drones, { timeout: 600_000, polling: 1000 });
      const readyS = Math.round((Date.now() - t0) / 100) / 10;
      await sleep(3000);
      const common = { reference_fps: reference.fps, seconds: measureS, tiles };
      const idle = await frames(page, measureS * 1000);
      const info = await page.evaluate(() => ({ clusters: window.__nimbus.clusters().length, singles: window.__nimbus.positions().length, decode_ms: window.__nimbus.decodeMs(), draw_ms: window.__nimbus.drawMs.slice(-50) }));
      const p95 = (xs) => (xs.length ? Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] * 10) / 10 : null);
      print('fps_fleet_idle', drones, { ...common, ...idle, ready_s: readyS, clusters: info.clusters, singles: info.singles, worker_decode_ms_p95: p95(info.decode_ms), draw_ms_p95: p95(info.draw_ms) });
      const streams0 = await page.evaluate(() => window.__nimbus.streamsOpened());
      if (profile) {
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
        await cdp.send('Profiler.start');
        await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
      }
      const moving = await zoomAndPan(page, measureS * 1000);
      if (profile) {
        printProfile(drones, (await cdp.send('Profiler.stop')).profile);
        printTrace(drones, JSON.parse((await browser.stopTracing()).toString()));
      }
      const streams = (await page.evaluate(() => window.__nimbus.streamsOpened())) - streams0;
      print('fps_zoom_pan', drones, { ...common, ...moving, live_reconnects: streams });
      print('search_latency', drones, ms(await searchLatency(page, drones)));
      print('selection_latency', drones, ms(await selectionLatency(page)));
      const heap = [await heapMb(cdp)];
      if (soakS > 0) {
        for (let s = 0; s < soakS; s += 60) {
          await sleep(60_000);
          heap.push(await heapMb(cdp));
        }
      }
      print('js_heap', drones, { mb_at_login: heap0, mb_after_measure: heap[0], mb_samples: heap, soak_s: soakS });
      await page.screenshot({ path: join(SHOTS, `bench-${drones}.png`) });
      await page.close();
    } finally {
      await sim.stop();
      await server.stop();
    }
  }
} catch (e) {
  console.error(`fleet-bench: FAILED: ${e?.stack ?? e}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
