/**
 * The live stream: one `EventSource` on `/api/v1/live`, reconnected with exponential
 * backoff. Its position events go undecoded to the fleet store's worker, its `alert` events
 * to the alert store. The stream can be limited to a box (`setBbox`); a running stream
 * cannot change its box, so that reconnects.
 *
 * Every event has an SSE id. `EventSource` sends the last one (`Last-Event-ID`) only on its
 * own reconnects, and this class opens a new `EventSource` for each (a ticket is single
 * use), so it passes the id itself as `last_event_id` for the server to replay the alert
 * events missed in between. After a drop the open alerts are loaded again too, which also
 * covers a server that cannot replay that far.
 */
import { alerts } from './alert-store';
import { api, BASE } from './api/client';
import { bboxParam, type BBox } from './lib/bbox';
import { backoffMs } from './lib/backoff';
import { session } from './session';
import { fleet } from './fleet-store';

export type LiveStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline';

type StatusListener = (s: LiveStatus, detail: string) => void;

export interface LiveOptions {
  maxHz: number;
  onLogout: (message: string) => void;
}

export class LiveConnection {
  private source: EventSource | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private stopped = true;
  /** Bumped by every connect, so that a ticket that arrives late opens nothing. */
  private generation = 0;
  status: LiveStatus = 'offline';
  private listeners = new Set<StatusListener>();
  private bbox: BBox | null = null;
  /** Events received, for the test hook. */
  events = 0;
  /** Streams opened, for the test hook and the benchmark (reconnect storms show here). */
  opened = 0;
  /** The id of the newest event received, sent back on the next stream. */
  lastEventId = '';
  /** True from a broken stream until the next one is ready. */
  private dropped = false;
  /** The connection the app uses, for views that change its box. */
  static active: LiveConnection | null = null;

  constructor(private readonly options: LiveOptions) {
    window.addEventListener('online', () => this.retryNow());
  }

  onStatus(f: StatusListener): () => void {
    this.listeners.add(f);
    f(this.status, '');
    return () => this.listeners.delete(f);
  }

  private setStatus(s: LiveStatus, detail = ''): void {
    this.status = s;
    for (const f of this.listeners) f(s, detail);
  }

  start(): void {
    LiveConnection.active = this;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    if (LiveConnection.active === this) LiveConnection.active = null;
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.setStatus('offline', 'signed out');
  }

  retryNow(): void {
    if (this.stopped || this.status === 'connected') return;
    window.clearTimeout(this.timer);
    this.connect();
  }

  /** Limits the stream to `bbox` (`null`: every drone); reconnects when it changes. */
  setBbox(bbox: BBox | null): void {
    const same = bbox === null ? this.bbox === null : this.bbox !== null && bboxParam(bbox) === bboxParam(this.bbox);
    this.bbox = bbox;
    if (same || this.stopped || !this.source) return;
    // A planned switch: the backoff is not involved and the status stays as it is.
    this.connect(true);
  }

  get subscribedBbox(): BBox | null {
    return this.bbox;
  }

  private connect(switching = false): void {
    if (!session.token) return;
    if (!switching) this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const generation = ++this.generation;
    // A single-use ticket, never the access token, goes in the URL (URLs end up in logs).
    api.liveTicket().then(
      (ticket) => {
        if (generation === this.generation && !this.stopped) this.open(ticket);
      },
      () => {
        if (generation === this.generation && !this.stopped) this.scheduleReconnect('could not get a live ticket');
      },
    );
  }

  private open(ticket: string): void {
    this.source?.close();
    const box = this.bbox ? `&bbox=${bboxParam(this.bbox)}` : '';
    // `0` is the id of every event before the first alert event: nothing to replay.
    const since = this.lastEventId && this.lastEventId !== '0' ? `&last_event_id=${encodeURIComponent(this.lastEventId)}` : '';
    const url = `${BASE}/live?max_hz=${this.options.maxHz}${box}${since}&ticket=${encodeURIComponent(ticket)}`;
    const es = new EventSource(url);
    this.source = es;
    this.opened += 1;
    es.addEventListener('ready', () => {
      this.attempt = 0;
      this.setStatus('connected');
      if (this.dropped) {
        this.dropped = false;
        alerts.resync();
      }
    });
    es.addEventListener('positions', (ev) => {
      this.events += 1;
      this.lastEventId = (ev as MessageEvent<string>).lastEventId || this.lastEventId;
      if (window.__nimbus?.recordLag) window.__nimbus.receivedAt.push(Date.now());
      fleet.ingest((ev as MessageEvent<string>).data);
    });
    es.addEventListener('alert', (ev) => {
      this.lastEventId = (ev as MessageEvent<string>).lastEventId || this.lastEventId;
      alerts.ingest((ev as MessageEvent<string>).data);
    });
    es.addEventListener('logout', () => {
      this.stop();
      this.options.onLogout('Your session ended (signed out elsewhere, or your role changed). Please sign in again.');
    });
    es.addEventListener('error', (ev) => {
      // Either the server's `error` event (slow_consumer) or a broken connection.
      const data = (ev as MessageEvent<string>).data;
      es.close();
      if (this.source !== es || this.stopped) return;
      this.source = null;
      this.scheduleReconnect(data ? 'the server dropped the stream; reconnecting' : 'connection lost');
    });
  }

  private scheduleReconnect(reason: string): void {
    this.dropped = true;
    const delay = backoffMs(this.attempt);
    this.attempt += 1;
    this.setStatus(navigator.onLine === false || this.attempt > 3 ? 'offline' : 'reconnecting', `${reason}; retrying in ${Math.round(delay / 1000)} s`);
    // A refused token also looks like a broken stream: ask the API, whose 401 signs out.
    void api.me().catch(() => undefined);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }
}
