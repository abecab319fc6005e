/**
 * The alerts on the page: every open alert by drone (the badges on the maps and in the drone
 * table, the count in the header), loaded at sign-in and kept current by the live stream's
 * `alert` events, which also go to the screens that list alerts. Listeners are told once per
 * animation frame, with every event since the last time, like the fleet store's.
 */
import { alertsApi, type Alert, type AlertChange, type AlertEvent, type Severity } from './api/alerts';
import { AlertIndex } from './lib/alert-index';
import { parseAlertEvent } from './lib/alerts';

/** Open alerts loaded at most: 10 pages of 500, newest first; the count then says "+". */
const PAGE = 500;
const MAX_PAGES = 10;

export interface AlertBatch {
  events: readonly AlertEvent[];
  /** True when the live stream came back after a drop: lists should merge their first page
   * again, in case events were missed. */
  reconnected: boolean;
}

type Listener = (b: AlertBatch) => void;

class AlertStore {
  readonly index = new AlertIndex();
  loaded = false;
  /** More open alerts than `MAX_PAGES` pages: the index has the newest, the count is a floor. */
  truncated = false;
  loadError: string | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly badgeListeners = new Set<() => void>();
  private pending: AlertEvent[] = [];
  private badgesChanged = false;
  private reconnected = false;
  private scheduled = false;
  private generation = 0;

  /** Called once per frame with the events since the last call. */
  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Called once per frame when a drone's badge or the open counts changed. */
  onBadges(f: () => void): () => void {
    this.badgeListeners.add(f);
    return () => this.badgeListeners.delete(f);
  }

  severityOf(droneId: string): Severity | null {
    return this.index.severityOf(droneId);
  }

  /** A live `alert` event, as received. */
  ingest(json: string): void {
    const e = parseAlertEvent(json);
    if (e) this.push(e);
  }

  /** The answer of this user's acknowledge or resolve: shown before its live event arrives
   * (which then changes nothing, having the same version). */
  applyLocal(alert: Alert, change: AlertChange): void {
    this.push({ change, alert });
  }

  private push(e: AlertEvent): void {
    if (this.index.apply(e.alert)) this.badgesChanged = true;
    this.pending.push(e);
    this.schedule();
  }

  /** Loads every open alert (up to `MAX_PAGES` pages); events during the load are kept. */
  async load(): Promise<void> {
    const generation = ++this.generation;
    const mark = this.index.mark();
    try {
      const items: Alert[] = [];
      let cursor: string | undefined;
      let more = false;
      for (let i = 0; i < MAX_PAGES; i++) {
        const page = await alertsApi.list({ state: 'open', limit: PAGE, cursor });
        if (generation !== this.generation) return;
        items.push(...page.items);
        more = !!page.next_cursor;
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      this.index.replace(items, mark);
      this.truncated = more;
      this.loaded = true;
      this.loadError = null;
    } catch (e) {
      if (generation !== this.generation) return;
      this.loadError = e instanceof Error ? e.message : String(e);
    }
    this.badgesChanged = true;
    this.schedule();
  }

  /** After the live stream came back from a drop: reload, and tell the lists. */
  resync(): void {
    this.reconnected = true;
    this.schedule();
    void this.load();
  }

  /** Forgets everything (sign-out). */
  reset(): void {
    this.generation += 1;
    this.index.clear();
    this.loaded = false;
    this.truncated = false;
    this.loadError = null;
    this.pending = [];
    this.reconnected = false;
    this.badgesChanged = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch: AlertBatch = { events: this.pending, reconnected: this.reconnected };
    const badges = this.badgesChanged;
    this.pending = [];
    this.reconnected = false;
    this.badgesChanged = false;
    if (batch.events.length > 0 || batch.reconnected) for (const f of this.listeners) f(batch);
    if (badges) for (const f of this.badgeListeners) f();
  }
}

export const alerts = new AlertStore();
