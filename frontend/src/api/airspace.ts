/**
 * The airspace API (issue 17: geofences, plan checks and conflicts), typed by hand from the
 * contract until the regenerated OpenAPI document describes it; `schema.d.ts` does not know
 * these shapes yet. The plan types extend the generated ones with the fields the contract adds.
 */
import { ApiError } from '../lib/problem';
import { qs, send, type NewPlan, type Plan, type PlanUpdate } from './client';

export type GeofenceKind = 'prohibited' | 'restricted' | 'advisory';
export const GEOFENCE_KINDS: readonly GeofenceKind[] = ['prohibited', 'restricted', 'advisory'];
export type Datum = 'agl' | 'amsl';
export const DATUMS: readonly Datum[] = ['agl', 'amsl'];
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A GeoJSON position, `[lon, lat]`. */
export type Position = [number, number];
export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: Position[][];
}
export interface MultiPolygonGeometry {
  type: 'MultiPolygon';
  coordinates: Position[][][];
}
export type FenceGeometry = PolygonGeometry | MultiPolygonGeometry;

export interface Circle {
  lat: number;
  lon: number;
  radius_m: number;
}

/** `end` before `start` means the window runs across midnight. Times are `HH:MM`. */
export interface WeeklyWindow {
  days: Weekday[];
  start: string;
  end: string;
}

export interface Schedule {
  valid_from: string | null;
  valid_to: string | null;
  /** IANA zone of the weekly windows; the API's default is UTC. */
  time_zone: string;
  weekly: WeeklyWindow[];
}

/** Exactly one of `geometry` and `circle` is set. */
export interface Geofence {
  id: string;
  name: string;
  kind: GeofenceKind;
  geometry: FenceGeometry | null;
  circle: Circle | null;
  lower_m: number;
  upper_m: number;
  datum: Datum;
  schedule: Schedule | null;
  active: boolean;
  version: number;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface NewGeofence {
  name: string;
  kind: GeofenceKind;
  geometry?: FenceGeometry;
  circle?: Circle;
  lower_m: number;
  upper_m: number;
  datum?: Datum;
  schedule?: Schedule | null;
  active?: boolean;
}
export type GeofencePatch = Partial<NewGeofence>;

export interface GeofenceQuery {
  kind?: GeofenceKind;
  /** `minLon,minLat,maxLon,maxLat`. */
  bbox?: string;
  limit?: number;
  cursor?: string;
}
export interface GeofenceList {
  items: Geofence[];
  next_cursor: string | null;
}

/** A part of an imported document the server could not take, e.g. an ED-269 `zoneAuthority`. */
export interface Unsupported {
  feature: number;
  field: string;
  reason: string;
}
export interface ImportResult {
  created: number;
  ids: string[];
  unsupported: Unsupported[];
}

/** A fence a plan's leg crosses: `leg_index` i is the leg from waypoints[i] to waypoints[i+1];
 * the position is the first point of that leg inside the fence. */
export interface Violation {
  geofence_id: string;
  geofence_name: string;
  kind: GeofenceKind;
  leg: string;
  leg_index: number;
  lat: number;
  lon: number;
  alt_m: number;
}

/** Another plan that meets this one: where (legs, position) and when (`from`–`to`). */
export interface PlanConflict {
  plan_id: string;
  plan_name: string;
  drone_id: string;
  state: string;
  leg_index: number;
  other_leg_index: number;
  lat: number;
  lon: number;
  alt_m: number;
  from: string;
  to: string;
}

export interface PlanConflicts {
  plan_id: string;
  geofences: Violation[];
  plans: PlanConflict[];
}

export interface PlanAirspaceFields {
  /** Needed to cross `restricted` fences. */
  authorization_ref?: string | null;
  /** Why an admin approved despite plan conflicts. */
  override_reason?: string | null;
  /** Advisory fences the route crosses. */
  warnings?: Violation[];
}
export type AirPlan = Plan & PlanAirspaceFields;
export type AirNewPlan = NewPlan & { authorization_ref?: string | null };
export type AirPlanUpdate = PlanUpdate & { authorization_ref?: string | null };

/** The codes of the airspace problems the dashboard shows at legs or as conflicts. */
export type AirspaceCode = 'geofence_violation' | 'authorization_required' | 'plan_conflict';

export interface AirspaceProblem {
  code: AirspaceCode;
  detail: string;
  violations: Violation[];
  conflicts: PlanConflict[];
}

/** The airspace part of an API error, or null when `e` is another error. */
export function airspaceProblem(e: unknown): AirspaceProblem | null {
  if (!(e instanceof ApiError) || !e.problem) return null;
  const code = e.code;
  if (code !== 'geofence_violation' && code !== 'authorization_required' && code !== 'plan_conflict') return null;
  const p = e.problem as typeof e.problem & { violations?: Violation[]; conflicts?: PlanConflict[] };
  return { code, detail: p.detail, violations: p.violations ?? [], conflicts: p.conflicts ?? [] };
}

export const airspace = {
  geofences: (query: GeofenceQuery = {}) => send<GeofenceList>('GET', `/geofences${qs(query)}`).then((r) => r.body),
  geofence: (id: string) => send<Geofence>('GET', `/geofences/${id}`),
  createGeofence: (fence: NewGeofence) => send<Geofence>('POST', '/geofences', { body: fence }).then((r) => r.body),
  updateGeofence: (id: string, etag: string, patch: GeofencePatch) =>
    send<Geofence>('PATCH', `/geofences/${id}`, { body: patch, headers: { 'if-match': etag } }),
  deleteGeofence: (id: string) => send<void>('DELETE', `/geofences/${id}`).then(() => undefined),
  /** A GeoJSON FeatureCollection: circles are Points with `properties.radius_m`. */
  exportGeofences: async (): Promise<Blob> => {
    const r = await send<void>('GET', '/geofences/export', { raw: true, headers: { accept: 'application/geo+json, application/json' } });
    return r.response.blob();
  },
  /** A FeatureCollection as exported, or an ED-269 UAS zone document. */
  importGeofences: (document: unknown) => send<ImportResult>('POST', '/geofences/import', { body: document }).then((r) => r.body),

  plan: (id: string) => send<AirPlan>('GET', `/flight-plans/${id}`),
  planConflicts: (id: string) => send<PlanConflicts>('GET', `/flight-plans/${id}/conflicts`).then((r) => r.body),
  /** Pending plans that cross a fence they may not, or meet another plan. */
  conflictingPlans: (cursor?: string) =>
    send<{ items: AirPlan[]; next_cursor?: string | null; incomplete?: boolean }>('GET', `/flight-plans${qs({ conflicts: true, limit: 100, cursor })}`).then((r) => r.body),
  /** Approves; with `overrideReason` despite conflicts with other plans (admins). */
  approve: (id: string, overrideReason?: string) =>
    send<AirPlan>('POST', `/flight-plans/${id}/approve`, overrideReason ? { body: { override_reason: overrideReason } } : {}).then((r) => r.body),
};
