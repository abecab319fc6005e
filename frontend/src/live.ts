/**
 * The live stream: one `EventSource` on `/api/v1/live`, reconnected with exponential
 * backoff, its position events coalesced per animation frame into the fleet store.
 */
import { api, BASE, type Point } from './api/client';
import { backoffMs, FrameCoalescer } from './lib/coalesce';
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
  status: LiveStatus = 'offline';
  private listeners = new Set<StatusListener>();
  private readonly coalescer = new FrameCoalescer<Point>((points, at) => fleet.applyFrame(points, at));
  /** Events received, for the test hook. */
  events = 0;

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
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
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

  private connect(): void {
    const token = session.token;
    if (!token) return;
    this.source?.close();
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const url = `${BASE}/live?max_hz=${this.options.maxHz}&access_token=${encodeURIComponent(token)}`;
    const es = new EventSource(url);
    this.source = es;
    es.addEventListener('ready', () => {
      this.attempt = 0;
      this.setStatus('connected');
    });
    es.addEventListener('positions', (ev) => {
      this.events += 1;
      if (window.__nimbus?.recordLag) window.__nimbus.receivedAt.push(Date.now());
      try {
        const data = JSON.parse((ev as MessageEvent<string>).data) as { positions: Point[] };
        this.coalescer.push(data.positions);
      } catch {
        // A malformed event is skipped; the next one carries the newest positions anyway.
      }
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
    const delay = backoffMs(this.attempt);
    this.attempt += 1;
    this.setStatus(navigator.onLine === false || this.attempt > 3 ? 'offline' : 'reconnecting', `${reason}; retrying in ${Math.round(delay / 1000)} s`);
    // A refused token also looks like a broken stream: ask the API, whose 401 signs out.
    void api.me().catch(() => undefined);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }
}
