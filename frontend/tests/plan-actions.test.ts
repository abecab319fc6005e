import { describe, expect, it } from 'vitest';
import { allowedActions } from '../src/lib/plan-actions';

describe('flight-plan actions by state and role', () => {
  it('lets operators submit and cancel drafts, not approve', () => {
    expect(allowedActions('draft', 'operator')).toEqual(['submit', 'cancel']);
    expect(allowedActions('submitted', 'operator')).toEqual(['cancel']);
  });

  it('lets admins approve or reject submitted plans', () => {
    expect(allowedActions('submitted', 'admin')).toEqual(['approve', 'reject', 'cancel']);
    expect(allowedActions('approved', 'admin')).toEqual(['activate', 'cancel']);
    expect(allowedActions('active', 'admin')).toEqual(['complete', 'cancel']);
  });

  it('offers viewers nothing and final states nothing', () => {
    expect(allowedActions('draft', 'viewer')).toEqual([]);
    expect(allowedActions('completed', 'admin')).toEqual([]);
    expect(allowedActions('cancelled', 'admin')).toEqual([]);
  });
});
