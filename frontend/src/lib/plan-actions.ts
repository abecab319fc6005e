/** Which flight-plan transitions a user may offer, by the plan's state and the user's role. */
import type { Role } from '../session';

export type Action = 'submit' | 'approve' | 'reject' | 'activate' | 'complete' | 'cancel';

const FROM: Record<Action, readonly string[]> = {
  submit: ['draft'],
  approve: ['submitted'],
  reject: ['submitted'],
  activate: ['approved'],
  complete: ['active'],
  cancel: ['draft', 'submitted', 'approved', 'active'],
};

const NEEDS: Record<Action, Role> = {
  submit: 'operator',
  approve: 'admin',
  reject: 'admin',
  activate: 'operator',
  complete: 'operator',
  cancel: 'operator',
};

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function allowedActions(state: string, role: Role): Action[] {
  return (Object.keys(FROM) as Action[]).filter((a) => FROM[a].includes(state) && RANK[role] >= RANK[NEEDS[a]]);
}

export const PLAN_STATES = ['draft', 'submitted', 'approved', 'rejected', 'active', 'completed', 'cancelled'] as const;
