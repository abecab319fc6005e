/**
 * Which drones have open alerts, and the worst severity of each: what the fleet map and the
 * drone table badge, and what the header counts. Fed with alerts as they change (live
 * events, the answers of actions, a reload); a frame that draws thousands of drones asks it
 * once per visible drone, so `severityOf` is one Map lookup.
 *
 * "Open" is the state `open`: an acknowledged alert has someone on it and stops shouting.
 */
import type { Alert, Severity, SeverityCounts } from '../api/alerts';
import { severityRank, worstSeverity } from './alerts';

interface OpenAlert {
  drone: string;
  severity: Severity;
}

/** Versions of alerts no longer open are kept for this many alerts, so that a late replay of
 * an older version does not reopen them. */
const MAX_TRACKED = 20_000;

export class AlertIndex {
  private readonly open = new Map<string, OpenAlert>();
  private readonly byDrone = new Map<string, Set<string>>();
  private readonly worst = new Map<string, Severity>();
  /** Newest version seen of each alert, and when (`seq`) it was applied. */
  private readonly seen = new Map<string, { version: number; seq: number }>();
  /** Drones whose worst open alert is critical. */
  readonly critical = new Set<string>();
  private readonly tally: SeverityCounts = { info: 0, warning: 0, critical: 0 };
  private seq = 0;

  /** The worst severity of the drone's open alerts, or null when it has none. */
  severityOf(droneId: string): Severity | null {
    return this.worst.get(droneId) ?? null;
  }

  /** Open alerts by severity. */
  counts(): Readonly<SeverityCounts> {
    return this.tally;
  }

  get size(): number {
    return this.open.size;
  }

  /** Applies a changed alert; true when a badge or a count changed. A version no newer than
   * one already applied (a replay, the echo of one's own action) changes nothing. */
  apply(a: Alert): boolean {
    const known = this.seen.get(a.id);
    if (known && known.version >= a.version) return false;
    this.seq += 1;
    // Deleted first, so that the Map's order is the order of the last change (`forget`).
    this.seen.delete(a.id);
    this.seen.set(a.id, { version: a.version, seq: this.seq });
    const before = this.open.get(a.id);
    const after = a.state === 'open' ? { drone: a.drone_id, severity: a.severity } : null;
    if (before && after && before.severity === after.severity && before.drone === after.drone) return false;
    if (!before && !after) return false;
    if (before) this.remove(a.id, before);
    if (after) this.add(a.id, after);
    if (this.seen.size > MAX_TRACKED) this.forget();
    return true;
  }

  /** Where the index is now: give it to `replace` with the list loaded from here on. */
  mark(): number {
    return this.seq;
  }

  /**
   * Replaces the open alerts with `open`, a fresh list of every open alert whose loading
   * started at `mark`. Alerts applied since (live events during the load) are kept, and
   * fetched versions older than those are ignored.
   */
  replace(open: readonly Alert[], mark: number): void {
    const fetched = new Set(open.map((a) => a.id));
    for (const [id, o] of [...this.open]) {
      if (fetched.has(id) || (this.seen.get(id)?.seq ?? 0) > mark) continue;
      this.remove(id, o);
    }
    for (const a of open) this.apply(a);
  }

  clear(): void {
    this.open.clear();
    this.byDrone.clear();
    this.worst.clear();
    this.seen.clear();
    this.critical.clear();
    this.tally.info = this.tally.warning = this.tally.critical = 0;
  }

  private add(id: string, o: OpenAlert): void {
    this.open.set(id, o);
    this.tally[o.severity] += 1;
    let set = this.byDrone.get(o.drone);
    if (!set) this.byDrone.set(o.drone, (set = new Set()));
    set.add(id);
    const current = this.worst.get(o.drone);
    if (!current || severityRank(o.severity) > severityRank(current)) this.setWorst(o.drone, o.severity);
  }

  private remove(id: string, o: OpenAlert): void {
    this.open.delete(id);
    this.tally[o.severity] -= 1;
    const set = this.byDrone.get(o.drone);
    set?.delete(id);
    if (!set || set.size === 0) {
      this.byDrone.delete(o.drone);
      this.setWorst(o.drone, null);
      return;
    }
    this.setWorst(o.drone, worstSeverity([...set].map((a) => this.open.get(a)!.severity)));
  }

  private setWorst(drone: string, s: Severity | null): void {
    if (s) this.worst.set(drone, s);
    else this.worst.delete(drone);
    if (s === 'critical') this.critical.add(drone);
    else this.critical.delete(drone);
  }

  /** Drops the versions of the alerts that changed longest ago and are not open. */
  private forget(): void {
    for (const id of this.seen.keys()) {
      if (this.seen.size <= MAX_TRACKED * 0.75) break;
      if (!this.open.has(id)) this.seen.delete(id);
    }
  }
}
