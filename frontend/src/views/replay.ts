/**
 * Airspace replay (`/replay`): the fleet on the map as it was at any instant of a chosen
 * span. Scrubbing asks `positions?at=` (debounced; a newer request aborts the one in
 * flight). Play reads the `fleet/replay` NDJSON stream from the slider's instant and shows
 * its frames paced at the chosen speed, one request of at most 3600 frames after another
 * until the span's end. Pausing, scrubbing, a new span or step, and leaving the screen
 * abort what is in flight.
 */
import { replayApi, type FleetFrame, type ReplayPoint } from '../api/replay';
import { fleet, TRAIL_POINTS, type DroneState, type LivePoint } from '../fleet-store';
import { BoundsBuilder, type BBox } from '../lib/bbox';
import {
  dronesAt, instantAt, instantIn, lastHour, nextRequest, Pacer, readNdjson, readSpan, resumeAt, rfc3339,
  sliderMax, sliderPosition, SPEEDS, STEPS, type ReplayStep, type Span,
} from '../lib/replay';
import { localZoneName, toInputValue, zoneChoice, zoneLabel } from '../lib/time';
import { Trail } from '../lib/trail';
import { createBaseMap } from '../map/base';
import { DroneLayer } from '../map/drone-layer';
import { errorText, h, notice } from '../ui';

const sentence = (e: unknown) => errorText(e).replace(/\.$/, '');

const SCRUB_DEBOUNCE_MS = 150;
/** Trails keep this much replayed time, as the live map keeps two minutes. */
const TRAIL_MS = 120_000;

function livePoint(p: ReplayPoint): LivePoint {
  return {
    lat: p.lat, lon: p.lon, alt_m: p.alt_m, speed_mps: p.speed_mps, heading_deg: p.heading_deg, battery_pct: p.battery_pct,
    vertical_speed_mps: p.vertical_speed_mps ?? null, link_quality_pct: p.link_quality_pct ?? null, satellites: p.satellites ?? null,
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      window.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = window.setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

export function replayView(root: HTMLElement): () => void {
  const zone = zoneChoice();
  let span: Span = lastHour(Date.now());

  const fromInput = h('input', { id: 'replay-from', type: 'datetime-local', step: 1, value: toInputValue(span.from, zone, true), 'data-testid': 'replay-from' });
  const toInput = h('input', { id: 'replay-to', type: 'datetime-local', step: 1, value: toInputValue(span.to, zone, true), 'data-testid': 'replay-to' });
  const spanError = h('span', { class: 'field-error', role: 'alert', 'data-testid': 'replay-span-error' });
  const slider = h('input', { id: 'replay-slider', type: 'range', class: 'replay-slider', min: 0, max: sliderMax(span), step: 1, value: 0, 'aria-label': 'Replayed instant', 'data-testid': 'replay-slider' });
  const play = h('button', { type: 'button', class: 'btn btn-primary replay-play', 'aria-pressed': 'false', 'data-testid': 'replay-play' }, 'Play');
  const speedSelect = h('select', { id: 'replay-speed', 'data-testid': 'replay-speed' }, ...SPEEDS.map((s) => h('option', { value: s }, `${s}×`)));
  const stepSelect = h('select', { id: 'replay-step', 'data-testid': 'replay-step' }, ...STEPS.map((s) => h('option', { value: s.param }, s.label)));
  const instantLocal = h('span', { 'data-testid': 'replay-instant-local' });
  const instantUtc = h('span', { 'data-testid': 'replay-instant-utc' });
  const instant = h('p', { class: 'replay-instant', 'data-testid': 'replay-instant' }, instantLocal, h('span', { class: 'muted', 'aria-hidden': 'true' }, ' · '), instantUtc);
  const countEl = h('strong', { class: 'replay-count', 'aria-live': 'polite', 'data-testid': 'replay-count' });
  const incompleteEl = h('span', { class: 'replay-incomplete', hidden: true, 'data-testid': 'replay-incomplete' },
    'Some drones may be missing: a shard could not be read for this instant.');
  const statusEl = h('div', { 'data-testid': 'replay-status' });
  const mapEl = h('div', { class: 'map', id: 'replay-map', 'data-testid': 'replay-map' });

  root.append(h('div', { class: 'replay-page' },
    h('section', { class: 'replay-bar', 'aria-label': 'Replay controls' },
      h('div', { class: 'row' },
        h('h1', { class: 'replay-title' }, 'Airspace replay'),
        h('span', { class: 'replay-field' }, h('label', { for: 'replay-from' }, `From (${zoneLabel(zone)})`), fromInput),
        h('span', { class: 'replay-field' }, h('label', { for: 'replay-to' }, `To (${zoneLabel(zone)})`), toInput),
        spanError),
      h('div', { class: 'row replay-player' },
        play, slider,
        h('span', { class: 'replay-field' }, h('label', { for: 'replay-speed' }, 'Speed'), speedSelect),
        h('span', { class: 'replay-field' }, h('label', { for: 'replay-step' }, 'Step'), stepSelect)),
      h('div', { class: 'row spread' }, instant, h('span', { class: 'row' }, countEl, incompleteEl)),
      statusEl),
    h('div', { class: 'map-wrap' }, mapEl),
  ));

  const base = createBaseMap(mapEl);
  const fit = (b: BBox) => base.map.fitBounds([[b.south, b.west], [b.north, b.east]], { padding: [30, 30], maxZoom: 15, animate: false });
  // Where the fleet is now; otherwise where the first replayed frame with drones puts it.
  let fitted = false;
  if (fleet.bounds) {
    fit(fleet.bounds);
    fitted = true;
  }

  /** The replay's own drone states (names from the fleet store), by id. */
  const states = new Map<string, DroneState>();
  let shown: DroneState[] = [];
  let shownAt = span.from;
  let current = span.from;
  const layer = new DroneLayer({ only: () => shown, now: () => shownAt, alertDots: false });
  layer.addTo(base.map);
  window.__nimbus.layer = layer;
  window.__nimbus.replayFrames = 0;

  const status = (text: string, kind: 'info' | 'error' = 'info') => statusEl.replaceChildren(...(text ? [notice(kind, text)] : []));

  const showInstant = (t: number) => {
    instantLocal.textContent = `${instantIn(t, 'local')} ${localZoneName()}`;
    instantUtc.textContent = `${instantIn(t, 'utc')} UTC`;
    instant.dataset.at = rfc3339(t);
    slider.setAttribute('aria-valuetext', `${instantIn(t, zone)} ${zoneLabel(zone)}`);
  };

  /** Draws a frame; `continuous` when it follows the one drawn before (trails go on). */
  const showFrame = (frame: FleetFrame, continuous: boolean) => {
    const at = Date.parse(frame.at);
    const next: DroneState[] = [];
    for (const p of frame.items) {
      let s = states.get(p.drone_id);
      if (!s) states.set(p.drone_id, (s = { id: p.drone_id, slot: -1, drone: null, point: null, t: 0, trail: null, search: '', sortName: '' }));
      s.drone = fleet.drones.get(s.id)?.drone ?? s.drone;
      s.point = livePoint(p);
      s.t = Date.parse(p.ts);
      if (!continuous || !s.trail) s.trail = new Trail(TRAIL_POINTS);
      s.trail.push(p.lat, p.lon, s.t);
      s.trail.prune(at - TRAIL_MS);
      next.push(s);
    }
    if (next.length !== states.size) {
      const present = new Set(next.map((s) => s.id));
      for (const id of states.keys()) if (!present.has(id)) states.delete(id);
    }
    shown = next;
    shownAt = at;
    window.__nimbus.replayFrames += 1;
    countEl.textContent = `${dronesAt(next.length, at, zone)} ${zoneLabel(zone)}`;
    countEl.dataset.at = rfc3339(at);
    countEl.dataset.count = String(next.length);
    incompleteEl.hidden = !frame.incomplete;
    layer.redraw();
    if (!fitted && next.length > 0) {
      fitted = true;
      const b = new BoundsBuilder();
      for (const s of next) b.add(s.point!.lat, s.point!.lon);
      if (b.bounds) fit(b.bounds);
    }
  };

  let scrubTimer: number | null = null;
  let scrubbing: AbortController | null = null;
  const cancelScrub = () => {
    if (scrubTimer !== null) window.clearTimeout(scrubTimer);
    scrubTimer = null;
    scrubbing?.abort();
    scrubbing = null;
  };
  const fetchAt = async (t: number) => {
    scrubbing?.abort();
    const ctl = (scrubbing = new AbortController());
    try {
      const frame = await replayApi.positionsAt({ at: t }, ctl.signal);
      if (ctl.signal.aborted) return;
      status('');
      showFrame(frame, false);
    } catch (e) {
      if (ctl.signal.aborted) return;
      status(`Could not load the fleet at ${instantIn(t, zone)} ${zoneLabel(zone)}: ${sentence(e)}.`, 'error');
    } finally {
      if (scrubbing === ctl) scrubbing = null;
    }
  };
  const scrubTo = (t: number, delayMs = SCRUB_DEBOUNCE_MS) => {
    current = t;
    showInstant(t);
    if (scrubTimer !== null) window.clearTimeout(scrubTimer);
    scrubTimer = window.setTimeout(() => {
      scrubTimer = null;
      void fetchAt(t);
    }, delayMs);
  };

  let playing: AbortController | null = null;
  let pacer: Pacer | null = null;
  const speed = () => Number(speedSelect.value);
  const step = (): ReplayStep => STEPS.find((s) => s.param === stepSelect.value) ?? STEPS[0]!;
  const showPlaying = (on: boolean) => {
    play.textContent = on ? 'Pause' : 'Play';
    play.setAttribute('aria-pressed', String(on));
    // Frames many times a second would swamp a screen reader; the count is read when paused.
    countEl.setAttribute('aria-live', on ? 'off' : 'polite');
  };
  const pause = () => {
    playing?.abort();
    playing = null;
    pacer = null;
    showPlaying(false);
  };

  /** Plays from `from` to the span's end, a request at a time, until done or aborted. */
  const run = async (from: number, ctl: AbortController, p: Pacer, st: ReplayStep) => {
    const { signal } = ctl;
    let next = from;
    let continuous = false;
    try {
      for (;;) {
        const request = nextRequest(next, span.to, st);
        if (!request) break;
        const body = await replayApi.stream({ ...request, step: st }, signal);
        if (signal.aborted) {
          void body.cancel().catch(() => undefined);
          return;
        }
        let last: number | null = null;
        window.__nimbus.replayStreams += 1;
        try {
          for await (const frame of readNdjson<FleetFrame>(body)) {
            const at = Date.parse(frame.at);
            const wait = p.delay(at, performance.now());
            if (wait > 0) await sleep(wait, signal);
            if (signal.aborted) break;
            showFrame(frame, continuous);
            continuous = true;
            current = at;
            showInstant(at);
            slider.value = String(sliderPosition(span, at));
            p.shown(at, performance.now());
            last = at;
          }
        } finally {
          window.__nimbus.replayStreams -= 1;
        }
        if (signal.aborted) return;
        if (last === null) break;
        next = resumeAt(last, st);
      }
      pause();
      status('End of the span: Play starts it again.');
    } catch (e) {
      if (signal.aborted) return;
      pause();
      status(`The replay stopped at ${instantIn(current, zone)} ${zoneLabel(zone)}: ${sentence(e)}. Play goes on from there.`, 'error');
    }
  };
  const start = (from: number) => {
    pause();
    cancelScrub();
    status('');
    const ctl = (playing = new AbortController());
    const p = (pacer = new Pacer(speed()));
    showPlaying(true);
    void run(from, ctl, p, step());
  };

  play.addEventListener('click', () => {
    if (playing) pause();
    // With no step left before the end, Play starts the span again.
    else start(current + step().seconds * 1000 >= span.to ? span.from : current);
  });
  speedSelect.addEventListener('change', () => pacer?.setSpeed(speed(), shownAt, performance.now()));
  // The step is part of the request: the stream starts again from where it is.
  stepSelect.addEventListener('change', () => {
    if (playing) start(current);
  });
  slider.addEventListener('input', () => {
    pause();
    scrubTo(instantAt(span, Number(slider.value)));
  });
  const applySpan = () => {
    const read = readSpan(fromInput.value, toInput.value, zone);
    const bad = 'error' in read;
    spanError.textContent = bad ? read.error : '';
    for (const input of [fromInput, toInput]) input.setAttribute('aria-invalid', String(bad));
    if (bad) return;
    pause();
    span = read;
    slider.max = String(sliderMax(span));
    slider.value = String(sliderPosition(span, current >= span.from && current <= span.to ? current : span.from));
    scrubTo(instantAt(span, Number(slider.value)), 0);
  };
  fromInput.addEventListener('change', applySpan);
  toInput.addEventListener('change', applySpan);

  scrubTo(span.from, 0);

  return () => {
    pause();
    cancelScrub();
    if (window.__nimbus.layer === layer) window.__nimbus.layer = null;
    base.destroy();
  };
}
