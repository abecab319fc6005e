import { describe, expect, it } from 'vitest';
import { backoffMs, coalesceInto, FrameCoalescer } from '../src/lib/coalesce';

const pt = (drone_id: string, ts: string, lat = 0) => ({ drone_id, ts, lat });

describe('live event coalescing', () => {
  it('keeps only the newest point per drone', () => {
    const buf = new Map<string, ReturnType<typeof pt>>();
    coalesceInto(buf, [pt('a', '2026-01-01T00:00:01Z', 1), pt('b', '2026-01-01T00:00:01Z', 2)]);
    coalesceInto(buf, [pt('a', '2026-01-01T00:00:03Z', 3), pt('a', '2026-01-01T00:00:02Z', 4)]);
    expect(buf.size).toBe(2);
    expect(buf.get('a')!.lat).toBe(3);
    expect(buf.get('b')!.lat).toBe(2);
  });

  it('applies many events once per frame', () => {
    const frames: Array<() => void> = [];
    const applied: number[] = [];
    const c = new FrameCoalescer<ReturnType<typeof pt>>((points) => applied.push(points.length), (run) => frames.push(run), () => 0);
    c.push([pt('a', '2026-01-01T00:00:01Z')]);
    c.push([pt('b', '2026-01-01T00:00:01Z')]);
    c.push([pt('a', '2026-01-01T00:00:02Z')]);
    expect(frames.length).toBe(1);
    expect(applied).toEqual([]);
    frames.shift()!();
    expect(applied).toEqual([2]);
    expect(c.pending).toBe(0);
    c.push([pt('c', '2026-01-01T00:00:01Z')]);
    expect(frames.length).toBe(1);
  });

  it('does not schedule a frame for an empty event', () => {
    const frames: Array<() => void> = [];
    const c = new FrameCoalescer((_p) => undefined, (run) => frames.push(run));
    c.push([]);
    expect(frames.length).toBe(0);
  });
});

describe('reconnect backoff', () => {
  it('doubles from 1 s and caps at 30 s', () => {
    const noJitter = () => 1;
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffMs(a, 1000, 30_000, noJitter))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('jitters at most 20 % below', () => {
    expect(backoffMs(3, 1000, 30_000, () => 0)).toBe(6400);
  });
});
