/** The signed-in user's token (kept in sessionStorage, so it ends with the tab) and identity. */
import type { components } from './api/schema';

type Me = components['schemas']['MeResponse'];
const KEY = 'nimbus.token';

export type Role = 'admin' | 'operator' | 'viewer';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

class Session {
  me: Me | null = null;

  get token(): string | null {
    return sessionStorage.getItem(KEY);
  }

  set token(value: string | null) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  }

  clear(): void {
    this.token = null;
    this.me = null;
  }

  get role(): Role {
    const r = this.me?.user.role;
    return r === 'admin' || r === 'operator' ? r : 'viewer';
  }

  /** True when the user's role is at least `role`. */
  can(role: Role): boolean {
    return RANK[this.role] >= RANK[role];
  }
}

export const session = new Session();
