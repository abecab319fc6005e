import { describe, expect, it } from 'vitest';
import { Trail } from '../src/lib/trail';

describe('trail buffer', () => {
  it('keeps the newest points up to its capacity, oldest first', () => {
    const t = new Trail(3);
    for (let i = 1; i <= 5; i++) t.push(i, i, i);
    expect(t.size).toBe(3);
    expect(t.toArray()).toEqual([[3, 3], [4, 4], [5, 5]]);
  });

  it('ignores older points and repeats of the same place', () => {
    const t = new Trail(5);
    expect(t.push(1, 1, 10)).toBe(true);
    expect(t.push(2, 2, 5)).toBe(false);
    expect(t.push(1, 1, 11)).toBe(false);
    expect(t.size).toBe(1);
  });

  it('prunes points older than a time', () => {
    const t = new Trail(5);
    for (let i = 1; i <= 5; i++) t.push(i, i, i * 10);
    t.prune(35);
    expect(t.toArray()).toEqual([[4, 4], [5, 5]]);
    t.push(6, 6, 60);
    expect(t.toArray()).toEqual([[4, 4], [5, 5], [6, 6]]);
  });
});
