/**
 * The airspace replay's logic, without the DOM: the replayed span and the slider over it,
 * the API's query strings and how a long replay is split into requests, when each frame is
 * due at a playback speed, and newline-delimited JSON read from a byte stream.
 */
import { clockIn, dateTimeIn, fromInputValue, type ZoneChoice } from './time';

export interface ReplayStep {
  /** As the API takes it (`step=10s`). */
  param: string;
  seconds: number;
  label: string;
}

export const STEPS: readonly ReplayStep[] = [
  { param: '1s', seconds: 1, label: '1 s' },
  { param: '10s', seconds: 10, label: '10 s' },
  { param: '1m', seconds: 60, label: '1 min' },
];

/** Replay time per wall time: 1× shows one step of replay time per step of wall time. */
export const SPEEDS: readonly number[] = [1, 10, 60];

/** How old a drone's last point may be and still place it at an instant (the API's default). */
export const WINDOW = '60s';

/** Frames the API sends for one replay request, at most; a longer replay takes several. */
export const MAX_FRAMES = 3600;

/** Replayed time, ms since the epoch: frames at `from`, `from + step`, … before `to`. */
export interface Span {
  from: number;
  to: number;
}

/** The last hour up to `now`, to the second. */
export function lastHour(now: number): Span {
  const to = Math.floor(now / 1000) * 1000;
  return { from: to - 3_600_000, to };
}

/** The span two `datetime-local` values name in the zone, or why they name none. */
export function readSpan(fromValue: string, toValue: string, zone: ZoneChoice): Span | { error: string } {
  const from = fromInputValue(fromValue, zone);
  const to = fromInputValue(toValue, zone);
  if (Number.isNaN(from)) return { error: 'Enter a start time.' };
  if (Number.isNaN(to)) return { error: 'Enter an end time.' };
  if (to <= from) return { error: 'The end must be after the start.' };
  return { from, to };
}

/** The slider's positions are whole seconds after `span.from`, from 0 to this. */
export function sliderMax(span: Span): number {
  return Math.max(0, Math.floor((span.to - span.from) / 1000));
}

/** The instant at a slider position (clamped to the span). */
export function instantAt(span: Span, position: number): number {
  const p = Math.min(sliderMax(span), Math.max(0, Math.round(position)));
  return span.from + p * 1000;
}

/** The slider position nearest to an instant (clamped to the span). */
export function sliderPosition(span: Span, t: number): number {
  return Math.min(sliderMax(span), Math.max(0, Math.round((t - span.from) / 1000)));
}

/** RFC 3339 in UTC, without milliseconds when there are none: `2026-12-01T10:15:00Z`. */
export function rfc3339(t: number): string {
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return `?${q}`;
}

export interface PositionsAtQuery {
  at: number;
  window?: string;
  /** `minLon,minLat,maxLon,maxLat`. */
  bbox?: string;
}

/** `GET /fleet/positions`' query for the fleet at an instant. */
export function positionsAtQuery(q: PositionsAtQuery): string {
  return query({ at: rfc3339(q.at), window: q.window ?? WINDOW, bbox: q.bbox });
}

export interface ReplayQuery {
  from: number;
  to: number;
  step: ReplayStep;
  window?: string;
  bbox?: string;
}

/** `GET /fleet/replay`'s query. */
export function replayQuery(q: ReplayQuery): string {
  return query({ from: rfc3339(q.from), to: rfc3339(q.to), step: q.step.param, window: q.window ?? WINDOW, bbox: q.bbox });
}

/** The next request of a replay that has reached `from` and ends at `to`: at most
 * `MAX_FRAMES` steps long, or null when no frame is left. */
export function nextRequest(from: number, to: number, step: ReplayStep): Span | null {
  if (from >= to) return null;
  return { from, to: Math.min(to, from + MAX_FRAMES * step.seconds * 1000) };
}

/** Where a replay goes on after a request whose last frame was at `lastAt`, also when the
 * server ended that request before its `to`. */
export function resumeAt(lastAt: number, step: ReplayStep): number {
  return lastAt + step.seconds * 1000;
}

/**
 * When each replayed frame is due. At speed `s`, a frame `d` ms of replay time after the
 * anchor is due `d / s` ms of wall time after it; the first frame is the anchor and due at
 * once. A frame shown more than `slackMs` late becomes the new anchor, so that a slow stretch
 * (the network, a large frame) delays what follows instead of rushing it to catch up; a
 * little lateness (timer jitter) does not move the schedule.
 */
export class Pacer {
  private anchor: { at: number; wall: number } | null = null;

  constructor(
    private speed: number,
    private readonly slackMs = 250,
  ) {}

  private dueAt(at: number): number {
    return this.anchor ? this.anchor.wall + (at - this.anchor.at) / this.speed : Number.NEGATIVE_INFINITY;
  }

  /** Wall-clock ms to wait before showing the frame at `at`; 0 shows it now. */
  delay(at: number, now: number): number {
    if (!this.anchor) this.anchor = { at, wall: now };
    return Math.max(0, this.dueAt(at) - now);
  }

  /** The frame at `at` was shown at `now`. */
  shown(at: number, now: number): void {
    if (now - this.dueAt(at) > this.slackMs) this.anchor = { at, wall: now };
  }

  /** Plays on at `speed` from the frame at `at`, shown at `now`. */
  setSpeed(speed: number, at: number, now: number): void {
    this.speed = speed;
    if (this.anchor) this.anchor = { at, wall: now };
  }
}

/**
 * Newline-delimited text arriving in chunks, as lines: the bytes are decoded as UTF-8 across
 * chunk boundaries (a character may be split between two), a line may span chunks, and
 * blank lines and a `\r` before the newline are dropped. Only the new text of a chunk is
 * searched for newlines, so a frame of megabytes in many chunks costs one pass.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder();
  private pending: string[] = [];

  push(chunk: Uint8Array): string[] {
    return this.take(this.decoder.decode(chunk, { stream: true }));
  }

  /** The stream ended: what is left is a last line without its newline. */
  end(): string[] {
    const lines = this.take(`${this.decoder.decode()}\n`);
    this.pending = [];
    return lines;
  }

  private take(text: string): string[] {
    const nl = text.indexOf('\n');
    if (nl < 0) {
      if (text) this.pending.push(text);
      return [];
    }
    const lines = text.slice(nl + 1).split('\n');
    const rest = lines.pop() ?? '';
    lines.unshift(this.pending.join('') + text.slice(0, nl));
    this.pending = rest ? [rest] : [];
    const out: string[] = [];
    for (const line of lines) {
      const l = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (l.trim()) out.push(l);
    }
    return out;
  }
}

/**
 * The values of a newline-delimited JSON body, oldest first. The next chunk is read only
 * once the consumer has taken every line of the last one, so a paced consumer holds the
 * server back (it computes a frame when the last one was taken) instead of buffering the
 * whole replay. Stopping early (`break`, an abort) cancels the body.
 */
export async function* readNdjson<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T, void, undefined> {
  const reader = body.getReader();
  const lines = new LineSplitter();
  let finished = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      for (const line of lines.push(r.value)) yield JSON.parse(line) as T;
    }
    finished = true;
    for (const line of lines.end()) yield JSON.parse(line) as T;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** An instant to the second: `2026-12-01 14:05:09`. */
export function instantIn(t: number, zone: ZoneChoice): string {
  return `${dateTimeIn(t, zone).slice(0, 10)} ${clockIn(t, zone, true)}`;
}

/** "10 drones at 14:05:09" (the caller names the zone). */
export function dronesAt(count: number, t: number, zone: ZoneChoice): string {
  return `${count.toLocaleString('en-GB')} ${count === 1 ? 'drone' : 'drones'} at ${clockIn(t, zone, true)}`;
}
