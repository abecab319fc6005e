import { describe, expect, it } from 'vitest';
import { bboxParam, containsBBox, padBBox } from '../src/lib/bbox';
import { desiredSubscription, MIN_BBOX_ZOOM, needsResubscribe, SubscriptionScheduler, type Clock, type MapView } from '../src/lib/subscription';

const fleet = { west: 8.47, south: 47.32, east: 8.61, north: 47.42 };
const view = (west: number, south: number, size: number, zoom: number): MapView => ({ bbox: { west, south, east: west + size, north: south + size / 2 }, zoom });

class FakeClock implements Clock {
  t = 0;
  private timers = new Map<number, { at: number; f: () => void }>();
  private next = 1;
  now() { return this.t; }
  setTimeout(f: () => void, ms: number) { const id = this.next++; this.timers.set(id, { at: this.t + ms, f }); return id; }
  clearTimeout(id: number) { this.timers.delete(id); }
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.t = due[1].at;
      this.timers.delete(due[0]);
      due[1].f();
    }
    this.t = end;
  }
}

describe('boxes', () => {
  it('pads, contains and formats as the API wants', () => {
    const b = { west: 8, south: 47, east: 9, north: 48 };
    expect(padBBox(b, 1)).toEqual({ west: 7, south: 46, east: 10, north: 49 });
    expect(padBBox({ west: 170, south: 80, east: 179, north: 89 }, 1)).toEqual({ west: 161, south: 71, east: 180, north: 90 });
    expect(containsBBox(padBBox(b, 0.1), b)).toBe(true);
    expect(containsBBox(b, padBBox(b, 0.1))).toBe(false);
    expect(bboxParam({ west: 8.123456789, south: 47.1, east: 8.2, north: 47.25 })).toBe('8.12346,47.1,8.2,47.25');
  });
});

describe('viewport-aware live subscription', () => {
  it('subscribes to the whole fleet when the padded view covers it, else to the padded view', () => {
    expect(desiredSubscription(view(8.4, 47.3, 0.3, 12), fleet).bbox).toBeNull();
    expect(desiredSubscription(view(8.5, 47.35, 0.01, 17), fleet).bbox).toEqual(padBBox(view(8.5, 47.35, 0.01, 17).bbox, 1));
    expect(desiredSubscription(view(8.5, 47.35, 0.01, MIN_BBOX_ZOOM - 1), fleet).bbox).toBeNull();
  });

  it('resubscribes only when the view leaves the box or the zoom moves a lot', () => {
    const sub = desiredSubscription(view(8.5, 47.35, 0.01, 16), fleet);
    expect(needsResubscribe(sub, view(8.505, 47.352, 0.01, 16), fleet)).toBe(false);
    expect(needsResubscribe(sub, view(8.53, 47.35, 0.01, 16), fleet)).toBe(true);
    expect(needsResubscribe(sub, view(8.502, 47.351, 0.005, 17), fleet)).toBe(false);
    expect(needsResubscribe(sub, view(8.502, 47.351, 0.0025, 18), fleet)).toBe(true);
    const all = { bbox: null, zoom: 12 };
    expect(needsResubscribe(all, view(8.5, 47.35, 0.1, 13), fleet)).toBe(false);
    expect(needsResubscribe(all, view(8.5, 47.35, 0.01, 16), fleet)).toBe(true);
  });

  it('waits until the map stops moving and reconnects at most once a second', () => {
    const clock = new FakeClock();
    const applied: Array<string | null> = [];
    const s = new SubscriptionScheduler((sub) => applied.push(sub.bbox ? bboxParam(sub.bbox) : null), () => fleet, 600, 1000, clock);
    s.start(view(8.4, 47.3, 0.3, 12));
    expect(applied).toEqual([null]);
    // A drag of 3 s that ends far away, one moveend every 100 ms: one reconnect after it.
    for (let i = 0; i < 30; i++) {
      s.viewChanged(view(8.5 + i * 0.001, 47.35, 0.01, 16));
      clock.advance(100);
    }
    expect(applied.length).toBe(1);
    clock.advance(600);
    expect(applied.length).toBe(2);
    // A far jump 100 ms after that reconnect waits for the one-second spacing, not just the debounce.
    s.viewChanged(view(8.58, 47.4, 0.01, 16));
    clock.advance(600);
    expect(applied.length).toBe(2);
    clock.advance(300);
    expect(applied.length).toBe(3);
    clock.advance(5000);
    expect(applied.length).toBe(3);
    s.stop();
  });
});
