import { describe, expect, it } from 'vitest';
import {
  dronesAt, instantAt, instantIn, lastHour, LineSplitter, MAX_FRAMES, nextRequest, Pacer, positionsAtQuery, readNdjson,
  readSpan, replayQuery, resumeAt, sliderMax, sliderPosition, STEPS, type ReplayStep, type Span,
} from '../src/lib/replay';
import { toInputValue } from '../src/lib/time';

const bytes = (s: string) => new TextEncoder().encode(s);
const step = (param: string): ReplayStep => STEPS.find((s) => s.param === param)!;
const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A body that hands out `chunks` one read at a time and records whether it was cancelled. */
function body(chunks: Uint8Array[]): { stream: ReadableStream<Uint8Array>; reads: () => number; cancelled: () => boolean } {
  let i = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks[i++];
      if (next) c.enqueue(next);
      else c.close();
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, reads: () => i, cancelled: () => cancelled };
}

describe('newline-delimited JSON in chunks', () => {
  it('joins a line split across chunks and splits several lines in one chunk', () => {
    const s = new LineSplitter();
    expect(s.push(bytes('{"at":"a"'))).toEqual([]);
    expect(s.push(bytes(',"n":1}\n{"at":"b"}\n{"at'))).toEqual(['{"at":"a","n":1}', '{"at":"b"}']);
    expect(s.push(bytes('":"c"}\n'))).toEqual(['{"at":"c"}']);
    expect(s.end()).toEqual([]);
  });

  it('decodes a character whose bytes are split between chunks', () => {
    const s = new LineSplitter();
    const line = bytes('{"name":"Zürich ✈"}\n');
    const cut = line.indexOf(0xc3) + 1;
    const out = [...s.push(line.slice(0, cut)), ...s.push(line.slice(cut, cut + 7)), ...s.push(line.slice(cut + 7))];
    expect(out).toEqual(['{"name":"Zürich ✈"}']);
  });

  it('drops blank lines and a carriage return, and keeps a last line without its newline', () => {
    const s = new LineSplitter();
    expect(s.push(bytes('{"a":1}\r\n\n  \n{"a":2}'))).toEqual(['{"a":1}']);
    expect(s.push(bytes(',"b":3'))).toEqual([]);
    expect(s.end()).toEqual(['{"a":2},"b":3']);
  });

  it('reads frames from a stream, a chunk only when the last one is used up', async () => {
    const b = body([bytes('{"at":"1"}\n{"at'), bytes('":"2"}\n'), bytes('{"at":"3"}')]);
    const seen: string[] = [];
    for await (const f of readNdjson<{ at: string }>(b.stream)) {
      seen.push(f.at);
      if (f.at === '1') expect(b.reads()).toBe(1);
    }
    expect(seen).toEqual(['1', '2', '3']);
    expect(b.cancelled()).toBe(false);
  });

  it('cancels the body when the reader stops early', async () => {
    const b = body([bytes('{"at":"1"}\n{"at":"2"}\n'), bytes('{"at":"3"}\n')]);
    for await (const f of readNdjson<{ at: string }>(b.stream)) if (f.at === '1') break;
    expect(b.cancelled()).toBe(true);
    expect(b.reads()).toBe(1);
  });

  it('passes on a broken line as an error', async () => {
    const b = body([bytes('{"at":"1"}\n{"at":\n')]);
    const seen: string[] = [];
    await expect((async () => {
      for await (const f of readNdjson<{ at: string }>(b.stream)) seen.push(f.at);
    })()).rejects.toThrow(SyntaxError);
    expect(seen).toEqual(['1']);
  });
});

describe('the slider over the replayed span', () => {
  const span: Span = { from: T0, to: T0 + 3_600_000 };

  it('has a position per second, both ends included', () => {
    expect(sliderMax(span)).toBe(3600);
    expect(instantAt(span, 0)).toBe(T0);
    expect(instantAt(span, 90)).toBe(T0 + 90_000);
    expect(instantAt(span, 3600)).toBe(span.to);
    expect(sliderMax({ from: T0, to: T0 + 1500 })).toBe(1);
  });

  it('maps instants to positions and back, clamped to the span', () => {
    expect(sliderPosition(span, T0 + 90_000)).toBe(90);
    expect(sliderPosition(span, T0 + 90_400)).toBe(90);
    expect(sliderPosition(span, T0 - 5000)).toBe(0);
    expect(sliderPosition(span, span.to + 5000)).toBe(3600);
    expect(instantAt(span, -3)).toBe(T0);
    expect(instantAt(span, 9999)).toBe(span.to);
    for (const p of [0, 1, 1799, 3600]) expect(sliderPosition(span, instantAt(span, p))).toBe(p);
  });

  it('defaults to the last hour, to the second', () => {
    expect(lastHour(T0 + 42_750)).toEqual({ from: T0 + 42_000 - 3_600_000, to: T0 + 42_000 });
  });

  it('reads the span from the inputs, or says what is wrong', () => {
    expect(readSpan('2026-12-01T10:00', '2026-12-01T10:05:30', 'utc')).toEqual({ from: T0, to: T0 + 330_000 });
    expect(readSpan('', '2026-12-01T10:05', 'utc')).toEqual({ error: 'Enter a start time.' });
    expect(readSpan('2026-12-01T10:00', '', 'utc')).toEqual({ error: 'Enter an end time.' });
    expect(readSpan('2026-12-01T10:05', '2026-12-01T10:05', 'utc')).toEqual({ error: 'The end must be after the start.' });
    expect(toInputValue(T0 + 9_000, 'utc', true)).toBe('2026-12-01T10:00:09');
  });
});

describe('the API queries', () => {
  it('asks for the fleet at an instant with the default window', () => {
    expect(positionsAtQuery({ at: T0 + 90_000 })).toBe('?at=2026-12-01T10%3A01%3A30Z&window=60s');
    expect(positionsAtQuery({ at: T0 + 250, window: '5m', bbox: '8.4,47.3,8.7,47.45' }))
      .toBe('?at=2026-12-01T10%3A00%3A00.250Z&window=5m&bbox=8.4%2C47.3%2C8.7%2C47.45');
    expect(new URLSearchParams(positionsAtQuery({ at: T0 })).get('at')).toBe('2026-12-01T10:00:00Z');
  });

  it('asks for a replay with its step', () => {
    const q = new URLSearchParams(replayQuery({ from: T0, to: T0 + 600_000, step: step('10s') }));
    expect(Object.fromEntries(q)).toEqual({ from: '2026-12-01T10:00:00Z', to: '2026-12-01T10:10:00Z', step: '10s', window: '60s' });
  });

  it('splits a long replay into requests of at most 3600 frames', () => {
    const to = T0 + 2.5 * 3_600_000;
    const first = nextRequest(T0, to, step('1s'))!;
    expect(first).toEqual({ from: T0, to: T0 + MAX_FRAMES * 1000 });
    // The server sends from, from + 1 s, … before `to`: the last frame is a step before it.
    const second = nextRequest(resumeAt(first.to - 1000, step('1s')), to, step('1s'))!;
    expect(second).toEqual({ from: T0 + 3_600_000, to: T0 + 7_200_000 });
    const third = nextRequest(resumeAt(second.to - 1000, step('1s')), to, step('1s'))!;
    expect(third).toEqual({ from: T0 + 7_200_000, to });
    expect(nextRequest(resumeAt(to - 1000, step('1s')), to, step('1s'))).toBeNull();
    expect(nextRequest(T0, T0 + 3_600_000, step('1m'))).toEqual({ from: T0, to: T0 + 3_600_000 });
  });

  it('goes on from the last frame when the server ends a request early', () => {
    const to = T0 + 600_000;
    expect(nextRequest(resumeAt(T0 + 120_000, step('10s')), to, step('10s'))).toEqual({ from: T0 + 130_000, to });
  });
});

describe('pacing frames at a speed', () => {
  it('shows one step of replay time per step of wall time at 1×', () => {
    const p = new Pacer(1);
    expect(p.delay(T0, 500)).toBe(0);
    p.shown(T0, 500);
    expect(p.delay(T0 + 1000, 520)).toBe(980);
    p.shown(T0 + 1000, 1500);
    expect(p.delay(T0 + 2000, 1510)).toBe(990);
  });

  it('divides the waits by the speed', () => {
    const ten = new Pacer(10);
    ten.delay(T0, 0);
    ten.shown(T0, 0);
    expect(ten.delay(T0 + 1000, 0)).toBe(100);
    const sixty = new Pacer(60);
    sixty.delay(T0, 0);
    sixty.shown(T0, 0);
    expect(sixty.delay(T0 + 60_000, 0)).toBe(1000);
  });

  it('keeps the schedule through timer jitter, but a late frame delays those after it', () => {
    const p = new Pacer(10, 250);
    p.delay(T0, 0);
    p.shown(T0, 0);
    p.shown(T0 + 1000, 130);
    expect(p.delay(T0 + 2000, 130)).toBe(70);
    // Due at 300 but shown at 900 (a slow network): the next is due a step after that.
    p.shown(T0 + 3000, 900);
    expect(p.delay(T0 + 4000, 900)).toBe(100);
    expect(p.delay(T0 + 4000, 1200)).toBe(0);
  });

  it('changes speed from the frame shown', () => {
    const p = new Pacer(1);
    p.delay(T0, 0);
    p.shown(T0, 0);
    p.shown(T0 + 1000, 1000);
    p.setSpeed(60, T0 + 1000, 1200);
    expect(p.delay(T0 + 61_000, 1200)).toBe(1000);
  });
});

describe('what the replay says', () => {
  it('names the count and the instant to the second', () => {
    expect(dronesAt(10, T0 + 9_000, 'utc')).toBe('10 drones at 10:00:09');
    expect(dronesAt(1, T0, 'utc')).toBe('1 drone at 10:00:00');
    expect(dronesAt(12_000, T0, 'utc')).toBe('12,000 drones at 10:00:00');
    expect(instantIn(T0 + 9_000, 'utc')).toBe('2026-12-01 10:00:09');
  });
});
