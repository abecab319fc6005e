/** RFC 7807 problems from the API and where their field errors belong in a form. */
import type { components } from '../api/schema';

/** The schema lists the codes this server version knows; a client keeps any string, so that
 * a newer server's codes (and the client's own `network_error`) still fit. */
export type Problem = Omit<components['schemas']['Problem'], 'code' | 'errors'> & {
  code: string;
  errors?: ProblemField[];
};
export type ProblemField = Omit<components['schemas']['ProblemField'], 'code'> & { code: string };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem?.detail || problem?.title || `the server answered ${status}`);
    this.name = 'ApiError';
  }

  get code(): string {
    return this.problem?.code ?? `http_${this.status}`;
  }

  get fieldErrors(): ProblemField[] {
    return this.problem?.errors ?? [];
  }
}

/** A field path split: `waypoints[2].alt_m` → `{ list: 'waypoints', index: 2, field: 'alt_m' }`. */
export interface FieldPath {
  list: string | null;
  index: number | null;
  field: string | null;
}

export function parseFieldPath(path: string): FieldPath {
  const m = /^([A-Za-z_][\w]*)\[(\d+)\](?:\.([\w.]+))?$/.exec(path);
  if (m) return { list: m[1]!, index: Number(m[2]), field: m[3] ?? null };
  return { list: null, index: null, field: path || null };
}

/** A path and the paths that contain it, longest first:
 * `schedule.weekly[0].start` → `schedule.weekly[0].start`, `schedule.weekly[0]`, `schedule.weekly`, `schedule`. */
export function fieldPathAncestors(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p) {
    out.push(p);
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
  return out;
}

export interface GroupedErrors {
  /** Errors of list items, by item index, then by field (`''` for the item as a whole). */
  items: Map<number, Map<string, string[]>>;
  /** Errors of top-level fields, by field name. */
  fields: Map<string, string[]>;
  /** Errors that name no field, or a list other than `list`. */
  general: string[];
}

function add(map: Map<string, string[]>, key: string, message: string): void {
  const have = map.get(key);
  if (have) have.push(message);
  else map.set(key, [message]);
}

/** Groups a problem's `errors` by the list item (e.g. waypoint) or field they name. */
export function groupFieldErrors(errors: readonly ProblemField[], list = 'waypoints'): GroupedErrors {
  const out: GroupedErrors = { items: new Map(), fields: new Map(), general: [] };
  for (const e of errors) {
    const path = parseFieldPath(e.field);
    if (path.list === list && path.index !== null) {
      let item = out.items.get(path.index);
      if (!item) out.items.set(path.index, (item = new Map()));
      add(item, path.field ?? '', e.message);
    } else if (path.list === null && path.field) {
      add(out.fields, path.field, e.message);
    } else {
      out.general.push(e.field ? `${e.field}: ${e.message}` : e.message);
    }
  }
  return out;
}
