import { describe, expect, it } from 'vitest';
import { scrollToRow, virtualWindow } from '../src/lib/virtual';

describe('virtual list window', () => {
  it('renders only the rows in view plus overscan', () => {
    const w = virtualWindow(1000, 40, 4000, 400, 5);
    expect(w.start).toBe(95);
    expect(w.end).toBe(100 + 11 + 5);
    expect(w.offsetPx).toBe(95 * 40);
    expect(w.totalPx).toBe(40_000);
    expect(w.end - w.start).toBeLessThan(30);
  });

  it('clamps at both ends', () => {
    expect(virtualWindow(1000, 40, -50, 400, 5).start).toBe(0);
    const end = virtualWindow(1000, 40, 1e9, 400, 5);
    expect(end.end).toBe(1000);
    expect(virtualWindow(0, 40, 0, 400).end).toBe(0);
    expect(virtualWindow(3, 40, 0, 400).end).toBe(3);
  });

  it('scrolls a row into view only when it is out of view', () => {
    expect(scrollToRow(10, 40, 0, 400)).toBe(10 * 40 + 40 - 400);
    expect(scrollToRow(2, 40, 0, 400)).toBeNull();
    expect(scrollToRow(2, 40, 200, 400)).toBe(80);
  });
});
