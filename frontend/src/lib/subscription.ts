/**
 * The viewport-aware live subscription. A running stream's bbox cannot change, so the page
 * subscribes to the view padded by a generous margin and reconnects only when the view
 * leaves that box or the zoom changes a lot — debounced until the user stops moving the
 * map, and at most once per `minIntervalMs`. Zoomed out far enough that the padded view
 * covers the whole fleet, it subscribes without a bbox.
 */
import { containsBBox, padBBox, type BBox } from './bbox';

export interface MapView {
  bbox: BBox;
  zoom: number;
}

/** `bbox: null` is the whole fleet. */
export interface Subscription {
  bbox: BBox | null;
  zoom: number;
}

/** Each side of the view is padded by this share of the view's size (3 × 3 views in all). */
export const MARGIN = 1;
/** Zoom levels the map may move from the subscribed zoom before the box is redrawn. */
export const ZOOM_STEP = 2;
/** Below this zoom a box is not worth it: subscribe to everything. */
export const MIN_BBOX_ZOOM = 7;

export function desiredSubscription(view: MapView, fleet: BBox | null): Subscription {
  const padded = padBBox(view.bbox, MARGIN);
  if (view.zoom < MIN_BBOX_ZOOM || !fleet || containsBBox(padded, fleet)) return { bbox: null, zoom: view.zoom };
  return { bbox: padded, zoom: view.zoom };
}

export function needsResubscribe(current: Subscription | null, view: MapView, fleet: BBox | null): boolean {
  if (!current) return true;
  const zoomMoved = Math.abs(view.zoom - current.zoom) >= ZOOM_STEP;
  if (current.bbox === null) return zoomMoved && desiredSubscription(view, fleet).bbox !== null;
  return zoomMoved || !containsBBox(current.bbox, view.bbox);
}

export interface Clock {
  now(): number;
  setTimeout(f: () => void, ms: number): number;
  clearTimeout(id: number): void;
}

const browserClock: Clock = {
  now: () => Date.now(),
  setTimeout: (f, ms) => window.setTimeout(f, ms),
  clearTimeout: (id) => window.clearTimeout(id),
};

/** Decides when to resubscribe as the view changes; `apply` opens the new stream. */
export class SubscriptionScheduler {
  current: Subscription | null = null;
  private timer: number | null = null;
  private lastApplied = Number.NEGATIVE_INFINITY;
  private latest: MapView | null = null;

  constructor(
    private readonly apply: (s: Subscription) => void,
    private readonly fleetBounds: () => BBox | null,
    private readonly debounceMs = 600,
    private readonly minIntervalMs = 1000,
    private readonly clock: Clock = browserClock,
  ) {}

  /** The first subscription, at once. */
  start(view: MapView): void {
    this.latest = view;
    this.fire();
  }

  /** Call on every view change (moveend); reconnects later if needed. */
  viewChanged(view: MapView): void {
    this.latest = view;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    const wait = Math.max(this.debounceMs, this.lastApplied + this.minIntervalMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.fire(), wait);
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(): void {
    this.timer = null;
    const view = this.latest;
    if (!view) return;
    const fleet = this.fleetBounds();
    if (!needsResubscribe(this.current, view, fleet)) return;
    const next = desiredSubscription(view, fleet);
    if (this.current && this.current.bbox === null && next.bbox === null) {
      this.current = next;
      return;
    }
    this.current = next;
    this.lastApplied = this.clock.now();
    this.apply(next);
  }
}
