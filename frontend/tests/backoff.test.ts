import { describe, expect, it } from 'vitest';
import { backoffMs } from '../src/lib/backoff';

describe('reconnect backoff', () => {
  it('doubles from 1 s and caps at 30 s', () => {
    const noJitter = () => 1;
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffMs(a, 1000, 30_000, noJitter))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('jitters at most 20 % below', () => {
    expect(backoffMs(3, 1000, 30_000, () => 0)).toBe(6400);
  });
});
