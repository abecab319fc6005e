/**
 * The organisation's monitoring thresholds: its own battery levels (admins set them) and the
 * installation's link timeout. Typed by `schema.d.ts`, generated from the OpenAPI document.
 */
import { send, type Schemas } from './client';

export type MonitoringSettings = Schemas['MonitoringSettingsResponse'];
export type MonitoringPatch = Schemas['UpdateMonitoringRequest'];

export const monitoringApi = {
  get: () => send<MonitoringSettings>('GET', '/organization/monitoring').then((r) => r.body),
  /** `null` goes back to the installation's value. */
  update: (patch: MonitoringPatch) =>
    send<MonitoringSettings>('PATCH', '/organization/monitoring', { body: patch }).then((r) => r.body),
};
