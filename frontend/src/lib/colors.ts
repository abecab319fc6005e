/** Marker colours by drone status and battery, shared by the map and the legend. */

export const STATUS_COLORS: Record<string, string> = {
  active: '#1f7a3a',
  maintenance: '#b35c00',
  grounded: '#8a1c1c',
  retired: '#5f6368',
};

export function batteryColor(pct: number | null | undefined): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return '#5f6368';
  if (pct < 20) return '#c62828';
  if (pct < 50) return '#d08700';
  return '#1f7a3a';
}

/** Fill from the battery for active drones, from the status otherwise. */
export function droneColor(status: string | undefined, batteryPct: number | null | undefined): string {
  if (status && status !== 'active') return STATUS_COLORS[status] ?? '#5f6368';
  return batteryColor(batteryPct);
}

/** Geofence outlines by kind: the colour and a dash pattern, so kinds differ without colour too. */
export const FENCE_STYLES: Record<string, { color: string; dashArray?: string }> = {
  prohibited: { color: '#d93025' },
  restricted: { color: '#e8710a', dashArray: '8 4' },
  advisory: { color: '#1a73e8', dashArray: '2 4' },
};

export function fenceStyle(kind: string): { color: string; dashArray?: string } {
  return FENCE_STYLES[kind] ?? { color: '#5f6368' };
}

/** Alert severities: badges on the map and in the table, chips in the alert lists. */
export const SEVERITY_COLORS: Record<string, string> = {
  critical: '#c62828',
  warning: '#d08700',
  info: '#0b57d0',
};
