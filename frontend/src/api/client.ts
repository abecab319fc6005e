/**
 * The API calls the dashboard makes, typed by `schema.d.ts` (generated from
 * `../openapi/openapi.json`), so an API change breaks `tsc`.
 */
import type { components, paths } from './schema';
import { ApiError, type Problem } from '../lib/problem';
import { session } from '../session';

export type Schemas = components['schemas'];
export type Drone = Schemas['DroneResponse'];
export type DroneUpdate = Schemas['UpdateDroneRequest'];
export type Point = Schemas['PointDto'];
export type Summary = Schemas['SummaryResponse'];
export type Plan = Schemas['FlightPlanResponse'];
export type NewPlan = Schemas['CreateFlightPlanRequest'];
export type PlanUpdate = Schemas['UpdateFlightPlanRequest'];
export type NewDrone = Schemas['CreateDroneRequest'];
export type Waypoint = Schemas['WaypointDto'];
export type History = Schemas['DownsampledHistory'];
export type Bucket = Schemas['BucketResponse'];
export type User = Schemas['UserResponse'];
export type NewUser = Schemas['CreateUserRequest'];
export type UserUpdate = Schemas['UpdateUserRequest'];
export type Me = Schemas['MeResponse'];
export type ApiKey = Schemas['ApiKeyResponse'];
export type CreatedApiKey = Schemas['CreatedApiKey'];

type Query<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends { parameters: { query?: infer Q } }
  ? NonNullable<Q>
  : never;
export type DroneQuery = Query<'/api/v1/drones', 'get'>;
export type PlanQuery = Query<'/api/v1/flight-plans', 'get'>;
export type HistoryQuery = Query<'/api/v1/drones/{id}/telemetry', 'get'>;
export type ExportFormat = NonNullable<Query<'/api/v1/drones/{id}/telemetry/export', 'get'>['format']>;
export type PlanAction = 'submit' | 'approve' | 'reject' | 'activate' | 'complete' | 'cancel';
export type DroneStatus = Drone['status'];
export type PlanState = Plan['state'];
export type Role = User['role'];

export const BASE = '/api/v1';

/** Called on any 401: the session is over, the app goes back to the login screen. */
let onUnauthorized: (message: string) => void = () => {};
export function setUnauthorizedHandler(f: (message: string) => void): void {
  onUnauthorized = f;
}

export function qs(query: object | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export interface Sent<T> {
  body: T;
  etag: string | null;
  response: Response;
}

/** The read-after token of this tab's last write (`nimbus-read-after`), sent with every
 * later call so that an installation with read replicas shows the user their own changes.
 * It is bound to the session on the server, so a new session simply replaces it. */
let readAfter: string | null = null;

/** One API call: the bearer token, JSON both ways, a problem+json answer thrown as `ApiError`.
 * An aborted `signal` rejects with the fetch's own `AbortError`, not as a network error. */
export async function send<T>(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; raw?: boolean; signal?: AbortSignal } = {}): Promise<Sent<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (readAfter) headers['nimbus-read-after'] = readAfter;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  } catch (e) {
    if (init.signal?.aborted) throw e;
    throw new ApiError(0, {
      type: 'urn:nimbusfleet:problem:network',
      title: 'Network error',
      status: 0,
      code: 'network_error',
      detail: 'The server could not be reached. Check that it is running, then try again.',
    });
  }
  if (!response.ok) {
    let problem: Problem | null = null;
    try {
      problem = (await response.json()) as Problem;
    } catch {
      problem = null;
    }
    if (response.status === 401 && path !== '/auth/login') {
      onUnauthorized('Your session has ended. Please sign in again.');
    }
    throw new ApiError(response.status, problem);
  }
  const written = response.headers.get('nimbus-read-after');
  if (written) readAfter = written;
  const etag = response.headers.get('etag');
  if (init.raw || response.status === 204) return { body: undefined as T, etag, response };
  return { body: (await response.json()) as T, etag, response };
}

async function get<T>(path: string): Promise<T> {
  return (await send<T>('GET', path)).body;
}

export const api = {
  login: (email: string, password: string) =>
    send<Schemas['TokenResponse']>('POST', '/auth/login', { body: { email, password } satisfies Schemas['LoginRequest'] }).then((r) => r.body),
  logout: () => send<void>('POST', '/auth/logout').then(() => undefined),
  me: () => get<Me>('/auth/me'),
  /** A single-use ticket for one live stream (EventSource cannot send the token as a header). */
  liveTicket: () => send<Schemas['LiveTicket']>('POST', '/live/tickets').then((r) => r.body.ticket),

  drones: (query: DroneQuery = {}) => get<Schemas['DroneList']>(`/drones${qs(query)}`),
  drone: (id: string) => send<Drone>('GET', `/drones/${id}`),
  createDrone: (drone: NewDrone) => send<Drone>('POST', '/drones', { body: drone }).then((r) => r.body),
  updateDrone: (id: string, etag: string, patch: DroneUpdate) =>
    send<Drone>('PATCH', `/drones/${id}`, { body: patch, headers: { 'if-match': etag } }),
  deleteDrone: (id: string) => send<void>('DELETE', `/drones/${id}`).then(() => undefined),

  latest: (id: string) => get<Point>(`/drones/${id}/telemetry/latest`),
  history: (id: string, query: HistoryQuery) => get<History>(`/drones/${id}/telemetry${qs(query)}`),
  exportTrack: async (id: string, format: ExportFormat, from?: string, to?: string): Promise<Blob> => {
    const r = await send<void>('GET', `/drones/${id}/telemetry/export${qs({ format, from, to })}`, {
      raw: true,
      headers: { accept: '*/*' },
    });
    return r.response.blob();
  },

  positions: () => get<Schemas['PositionsResponse']>('/fleet/positions'),
  /** The same answer undecoded, for the fleet worker to parse off the main thread. */
  positionsJson: async (bbox?: string): Promise<string> => {
    const r = await send<void>('GET', `/fleet/positions${qs({ bbox })}`, { raw: true });
    return r.response.text();
  },
  summary: () => get<Summary>('/fleet/summary'),

  plans: (query: PlanQuery = {}) => get<Schemas['FlightPlanList']>(`/flight-plans${qs(query)}`),
  createPlan: (plan: NewPlan) => send<Plan>('POST', '/flight-plans', { body: plan }).then((r) => r.body),
  plan: (id: string) => send<Plan>('GET', `/flight-plans/${id}`),
  updatePlan: (id: string, etag: string, patch: PlanUpdate) =>
    send<Plan>('PATCH', `/flight-plans/${id}`, { body: patch, headers: { 'if-match': etag } }),
  transition: (id: string, action: PlanAction, reason?: string) =>
    send<Plan>('POST', `/flight-plans/${id}/${action}`, reason ? { body: { reason } satisfies Schemas['TransitionRequest'] } : {}).then((r) => r.body),

  users: (query: Query<'/api/v1/users', 'get'> = {}) => get<Schemas['UserList']>(`/users${qs(query)}`),
  createUser: (user: NewUser) => send<User>('POST', '/users', { body: user }).then((r) => r.body),
  updateUser: (id: string, version: number, patch: UserUpdate) =>
    send<User>('PATCH', `/users/${id}`, { body: patch, headers: { 'if-match': `"${version}"` } }).then((r) => r.body),
  deleteUser: (id: string) => send<void>('DELETE', `/users/${id}`).then(() => undefined),

  apiKeys: (droneId: string) => get<Schemas['ApiKeyList']>(`/drones/${droneId}/api-keys`),
  createApiKey: (droneId: string, name: string) =>
    send<CreatedApiKey>('POST', `/drones/${droneId}/api-keys`, { body: { name } satisfies Schemas['CreateApiKeyRequest'] }).then((r) => r.body),
  revokeApiKey: (droneId: string, keyId: string) => send<void>('DELETE', `/drones/${droneId}/api-keys/${keyId}`).then(() => undefined),
};

/** Every page of a cursor-paginated list. */
export async function allPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string | null }>,
  onPage?: (items: T[]) => void,
  maxPages = 1000,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(cursor);
    out.push(...page.items);
    onPage?.(page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}
