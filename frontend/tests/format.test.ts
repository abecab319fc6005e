import { describe, expect, it } from 'vitest';
import * as fmt from '../src/lib/format';

describe('formatting with units', () => {
  it('puts the unit after every number', () => {
    expect(fmt.metres(62.54)).toBe('62.5 m');
    expect(fmt.speed(11.8)).toBe('11.8 m/s');
    expect(fmt.percent(81.5)).toBe('82 %');
    expect(fmt.percent(81.5, 1)).toBe('81.5 %');
    expect(fmt.degrees(274)).toBe('274°');
    expect(fmt.rate(2100 / 60)).toBe('35.0 points/s');
    expect(fmt.minutes(45)).toBe('45 min');
  });

  it('shows a dash for missing or non-finite values', () => {
    expect(fmt.metres(null)).toBe('—');
    expect(fmt.speed(undefined)).toBe('—');
    expect(fmt.percent(Number.NaN)).toBe('—');
  });

  it('formats durations and distances at a readable scale', () => {
    expect(fmt.seconds(42)).toBe('42 s');
    expect(fmt.seconds(150)).toBe('2 min 30 s');
    expect(fmt.seconds(120)).toBe('2 min');
    expect(fmt.distance(850)).toBe('850 m');
    expect(fmt.distance(1234)).toBe('1.23 km');
  });

  it('says how long ago a timestamp was', () => {
    const now = Date.parse('2026-11-23T10:00:00Z');
    expect(fmt.ago('2026-11-23T09:59:48Z', now)).toBe('12 s ago');
    expect(fmt.ago('2026-11-23T09:55:00Z', now)).toBe('5 min ago');
    expect(fmt.ago('2026-11-23T07:00:00Z', now)).toBe('3 h ago');
    expect(fmt.ago(null, now)).toBe('never');
  });
});
