/**
 * All drones on one canvas. In fleet mode it draws the worker's frame: clusters (a disc
 * with the count, zoom in on click) and single drones (a heading arrow coloured by status
 * and battery, its short trail, a label when few are in view); otherwise it draws the
 * drones `only` names. Hovering shows a tooltip; clicks are hit-tested against what was
 * drawn. Redrawn at most once per animation frame, only when something changed.
 *
 * A drone with an open warning or critical alert gets a dot at its arrow (one Map lookup
 * per drawn drone); drones in clusters with a critical one get the dot at their position on
 * top of the clusters, at most `MAX_CLUSTERED_ALERTS` of them, so that per-frame work stays
 * bounded by what is in view.
 */
import L from 'leaflet';
import { alerts } from '../alert-store';
import { containsPoint } from '../lib/bbox';
import { clusterLabel, clusterRadius } from '../lib/cluster-style';
import { droneColor, SEVERITY_COLORS } from '../lib/colors';
import * as fmt from '../lib/format';
import { worldSize, worldX, worldY } from '../lib/mercator';
import { fleet, type DroneState } from '../fleet-store';
import { CLUSTER_STRIDE } from '../worker/protocol';

const HIT_RADIUS_PX = 12;
const STALE_MS = 60_000;
/** Trails are drawn when at most this many drones are drawn on their own. */
const MAX_TRAILS = 2500;
/** Names are written next to the drones when at most this many are in view. */
const MAX_LABELS = 40;
const NOT_LIVE = '#8d97a3';
/** Clustered drones with a critical alert drawn on their own, at most. */
const MAX_CLUSTERED_ALERTS = 200;

/** Alert dots, one path per severity (critical drawn last, on top). */
function drawAlertDots(ctx: CanvasRenderingContext2D, dots: { warning: number[]; critical: number[] }, r: number): void {
  for (const sev of ['warning', 'critical'] as const) {
    const xy = dots[sev];
    if (xy.length === 0) continue;
    ctx.beginPath();
    for (let i = 0; i < xy.length; i += 2) {
      ctx.moveTo(xy[i]! + r, xy[i + 1]!);
      ctx.arc(xy[i]!, xy[i + 1]!, r, 0, Math.PI * 2);
    }
    ctx.fillStyle = SEVERITY_COLORS[sev]!;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
}

export interface DrawnDrone {
  id: string;
  x: number;
  y: number;
  lat: number;
  lon: number;
}

export interface DrawnCluster {
  x: number;
  y: number;
  r: number;
  lat: number;
  lon: number;
  count: number;
  low: number;
  expansionZoom: number;
}

export interface DroneLayerOptions {
  /** Draw only these drones (a drone's page, the plan editor) instead of the fleet frame. */
  only?: () => DroneState[];
  /** The instant "silent for 60 s" and "last seen" are judged at (default: now); a replay
   * passes the instant it shows. */
  now?: () => number;
  /** Dots for open alerts (default true); today's alerts say nothing about a replayed past. */
  alertDots?: boolean;
}

function theme(): { label: string; halo: string; trail: string } {
  const dark = document.documentElement.dataset.resolvedTheme === 'dark';
  return dark
    ? { label: '#e6edf5', halo: 'rgba(10,18,28,0.9)', trail: 'rgba(150,190,255,0.5)' }
    : { label: '#0b1a2b', halo: 'rgba(255,255,255,0.9)', trail: 'rgba(30,60,110,0.45)' };
}

export class DroneLayer extends L.Layer {
  private canvas!: HTMLCanvasElement;
  private tip!: HTMLElement;
  private frame: number | null = null;
  private drawn: DrawnDrone[] = [];
  private clusters: DrawnCluster[] = [];
  selected: string | null = null;
  /** Called after each draw with the time of drawing (ms since epoch) and its cost (ms). */
  onDraw: ((at: number, costMs: number) => void) | null = null;
  onSelect: ((id: string) => void) | null = null;
  private mapRef: L.Map | null = null;
  private hoverAt: L.Point | null = null;
  private hoverFrame: number | null = null;

  constructor(private readonly opts: DroneLayerOptions = {}) {
    super();
  }

  override onAdd(map: L.Map): this {
    this.mapRef = map;
    this.canvas = L.DomUtil.create('canvas', 'drone-canvas leaflet-zoom-hide');
    this.canvas.setAttribute('aria-label', 'Drone positions');
    this.canvas.setAttribute('role', 'img');
    map.getPanes().overlayPane.appendChild(this.canvas);
    this.tip = L.DomUtil.create('div', 'drone-tip', map.getContainer());
    this.tip.setAttribute('role', 'tooltip');
    this.tip.hidden = true;
    map.on('moveend zoomend resize viewreset', this.redraw, this);
    map.on('click', this.handleClick, this);
    map.on('mousemove', this.handleHover, this);
    map.on('mouseout zoomstart movestart', this.hideTip, this);
    window.addEventListener('nimbus:theme', this.redrawBound);
    this.redraw();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('moveend zoomend resize viewreset', this.redraw, this);
    map.off('click', this.handleClick, this);
    map.off('mousemove', this.handleHover, this);
    map.off('mouseout zoomstart movestart', this.hideTip, this);
    window.removeEventListener('nimbus:theme', this.redrawBound);
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    if (this.hoverFrame !== null) cancelAnimationFrame(this.hoverFrame);
    this.frame = null;
    this.canvas.remove();
    this.tip.remove();
    this.mapRef = null;
    return this;
  }

  private readonly redrawBound = () => this.redraw();

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Single drones as drawn last, for tests and hit-testing. */
  get positions(): readonly DrawnDrone[] {
    return this.drawn;
  }

  get drawnClusters(): readonly DrawnCluster[] {
    return this.clusters;
  }

  select(id: string | null): void {
    this.selected = id;
    this.redraw();
  }

  /** Schedules a draw on the next animation frame (several calls make one draw). */
  redraw(): void {
    if (!this.mapRef || this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  /** Draws at once: for callers already inside an animation frame (the store's flush). */
  redrawNow(): void {
    if (!this.mapRef) return;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.draw();
  }

  private singles(): DroneState[] {
    if (this.opts.only) return this.opts.only();
    const f = fleet.frame;
    if (!f) return [];
    const out: DroneState[] = [];
    for (const slot of f.singles) {
      const s = fleet.bySlot[slot];
      if (s?.point) out.push(s);
    }
    return out;
  }

  private draw(): void {
    const map = this.mapRef;
    if (!map) return;
    const started = performance.now();
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(this.canvas, topLeft);
    if (this.canvas.width !== size.x * ratio || this.canvas.height !== size.y * ratio) {
      this.canvas.width = size.x * ratio;
      this.canvas.height = size.y * ratio;
      this.canvas.style.width = `${size.x}px`;
      this.canvas.style.height = `${size.y}px`;
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    const colors = theme();
    const origin = map.getPixelOrigin();
    const ws = worldSize(map.getZoom());
    const offX = origin.x + topLeft.x;
    const offY = origin.y + topLeft.y;
    const px = (lon: number) => worldX(lon, ws) - offX;
    const py = (lat: number) => worldY(lat, ws) - offY;
    const onScreen = (x: number, y: number) => x >= -20 && y >= -20 && x <= size.x + 20 && y <= size.y + 20;
    const now = this.now();
    const subscribed = this.opts.only ? null : fleet.subscribed;

    const singles = this.singles();
    const drawn: DrawnDrone[] = [];
    const visible: Array<{ s: DroneState; x: number; y: number }> = [];
    for (const s of singles) {
      const p = s.point!;
      const x = px(p.lon);
      const y = py(p.lat);
      drawn.push({ id: s.id, x, y, lat: p.lat, lon: p.lon });
      if (onScreen(x, y)) visible.push({ s, x, y });
    }

    if (visible.length <= MAX_TRAILS) {
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = colors.trail;
      ctx.beginPath();
      for (const { s } of visible) {
        if (!s.trail || s.trail.size < 2) continue;
        s.trail.forEach((lat, lon, _t, i) => {
          if (i === 0) ctx.moveTo(px(lon), py(lat));
          else ctx.lineTo(px(lon), py(lat));
        });
      }
      ctx.stroke();
    }

    // Arrows batched by style: one path per fill colour, so thousands cost a few calls.
    const groups = new Map<string, { fill: string; stroke: string; width: number; items: Array<{ x: number; y: number; h: number }> }>();
    for (const { s, x, y } of visible) {
      const p = s.point!;
      const live = !subscribed || containsPoint(subscribed, p.lat, p.lon);
      const stale = !live || now - s.t > STALE_MS;
      const color = live ? droneColor(s.drone?.status, p.battery_pct) : NOT_LIVE;
      const key = `${color}${stale ? 'h' : 'f'}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { fill: stale ? '#ffffff' : color, stroke: stale ? color : '#0b1a2b', width: stale ? 2 : 1, items: [] }));
      g.items.push({ x, y, h: ((p.heading_deg || 0) * Math.PI) / 180 });
    }
    for (const g of groups.values()) {
      ctx.beginPath();
      for (const { x, y, h } of g.items) {
        const c = Math.cos(h);
        const sn = Math.sin(h);
        const at = (dx: number, dy: number): [number, number] => [x + dx * c - dy * sn, y + dx * sn + dy * c];
        ctx.moveTo(...at(0, -9));
        ctx.lineTo(...at(6, 6));
        ctx.lineTo(...at(0, 3));
        ctx.lineTo(...at(-6, 6));
        ctx.closePath();
      }
      ctx.fillStyle = g.fill;
      ctx.fill();
      ctx.lineWidth = g.width;
      ctx.strokeStyle = g.stroke;
      ctx.stroke();
    }

    const withAlerts = this.opts.alertDots !== false && alerts.index.size > 0;
    if (withAlerts) {
      const dots = { warning: [] as number[], critical: [] as number[] };
      for (const { s, x, y } of visible) {
        const sev = alerts.severityOf(s.id);
        if (sev === 'critical' || sev === 'warning') dots[sev].push(x + 7, y - 8);
      }
      drawAlertDots(ctx, dots, 4.5);
    }

    if (visible.length > 0 && visible.length <= MAX_LABELS) {
      ctx.font = '600 11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.lineWidth = 3;
      ctx.strokeStyle = colors.halo;
      ctx.fillStyle = colors.label;
      // Greedy decluttering: a label that would overlap one already written is left out.
      const taken: Array<[number, number, number, number]> = [];
      for (const { s, x, y } of visible) {
        const text = `${s.drone?.name ?? s.id.slice(0, 8)} · ${fmt.percent(s.point!.battery_pct)} · ${fmt.metres(s.point!.alt_m, 0)}`;
        const w = ctx.measureText(text).width;
        const box: [number, number, number, number] = [x + 11, y - 7, x + 11 + w, y + 7];
        if (taken.some((t) => box[0] < t[2] && box[2] > t[0] && box[1] < t[3] && box[3] > t[1])) continue;
        taken.push(box);
        ctx.strokeText(text, x + 11, y);
        ctx.fillText(text, x + 11, y);
      }
    }

    const clusters: DrawnCluster[] = [];
    const f = this.opts.only ? null : fleet.frame;
    if (f && f.clusters.length > 0) {
      const c = f.clusters;
      for (let i = 0; i < c.length; i += CLUSTER_STRIDE) {
        const lon = c[i]!;
        const lat = c[i + 1]!;
        const count = c[i + 2]!;
        const x = px(lon);
        const y = py(lat);
        const r = clusterRadius(count);
        if (x < -r || y < -r || x > size.x + r || y > size.y + r) continue;
        clusters.push({ x, y, r, lat, lon, count, expansionZoom: c[i + 3]!, low: c[i + 4]! });
      }
      for (const fill of ['rgba(11, 87, 208, 0.82)', 'rgba(196, 110, 0, 0.88)']) {
        const warn = fill.startsWith('rgba(196');
        ctx.beginPath();
        for (const k of clusters) {
          if ((k.low / k.count > 0.1) !== warn) continue;
          ctx.moveTo(k.x + k.r, k.y);
          ctx.arc(k.x, k.y, k.r, 0, Math.PI * 2);
        }
        ctx.fillStyle = fill;
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = '#ffffff';
        ctx.stroke();
      }
      ctx.font = '700 12px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillStyle = '#ffffff';
      for (const k of clusters) ctx.fillText(clusterLabel(k.count), k.x, k.y);
      ctx.textAlign = 'start';
      if (withAlerts && clusters.length > 0 && alerts.index.critical.size > 0) {
        const single = new Set(visible.map((v) => v.s.id));
        const dots = { warning: [] as number[], critical: [] as number[] };
        let examined = 0;
        for (const id of alerts.index.critical) {
          if (++examined > MAX_CLUSTERED_ALERTS) break;
          const p = single.has(id) ? null : fleet.drones.get(id)?.point;
          if (!p) continue;
          const x = px(p.lon);
          const y = py(p.lat);
          if (onScreen(x, y)) dots.critical.push(x, y);
        }
        drawAlertDots(ctx, dots, 5);
      }
    }

    const sel = this.selected ? fleet.drones.get(this.selected)?.point : null;
    if (sel) {
      const x = px(sel.lon);
      const y = py(sel.lat);
      ctx.beginPath();
      ctx.arc(x, y, 14, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#0050d0';
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x, y, 17, 0, Math.PI * 2);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
    }
    this.drawn = drawn;
    this.clusters = clusters;
    this.onDraw?.(Date.now(), performance.now() - started);
  }

  private hit(x: number, y: number): { drone: DrawnDrone } | { cluster: DrawnCluster } | null {
    let best: DrawnDrone | null = null;
    let bestD = HIT_RADIUS_PX * HIT_RADIUS_PX;
    for (const d of this.drawn) {
      const dd = (d.x - x) ** 2 + (d.y - y) ** 2;
      if (dd <= bestD) {
        best = d;
        bestD = dd;
      }
    }
    if (best) return { drone: best };
    for (const k of this.clusters) {
      if ((k.x - x) ** 2 + (k.y - y) ** 2 <= k.r * k.r) return { cluster: k };
    }
    return null;
  }

  private handleClick(e: L.LeafletMouseEvent): void {
    const h = this.hit(e.containerPoint.x, e.containerPoint.y);
    if (!h) return;
    if ('drone' in h) this.onSelect?.(h.drone.id);
    else this.mapRef?.setView([h.cluster.lat, h.cluster.lon], Math.min(h.cluster.expansionZoom, this.mapRef.getMaxZoom()));
  }

  private handleHover(e: L.LeafletMouseEvent): void {
    this.hoverAt = e.containerPoint;
    if (this.hoverFrame !== null) return;
    this.hoverFrame = requestAnimationFrame(() => {
      this.hoverFrame = null;
      this.showTip();
    });
  }

  private readonly hideTip = () => {
    this.hoverAt = null;
    if (this.tip) this.tip.hidden = true;
    if (this.mapRef) this.mapRef.getContainer().style.cursor = '';
  };

  private showTip(): void {
    const at = this.hoverAt;
    const map = this.mapRef;
    if (!at || !map) return;
    const h = this.hit(at.x, at.y);
    map.getContainer().style.cursor = h ? 'pointer' : '';
    if (!h) {
      this.tip.hidden = true;
      return;
    }
    if ('drone' in h) {
      const s = this.opts.only?.().find((d) => d.id === h.drone.id) ?? fleet.drones.get(h.drone.id);
      const p = s?.point;
      this.tip.replaceChildren(
        Object.assign(document.createElement('strong'), { textContent: s?.drone?.name ?? h.drone.id }),
        document.createElement('br'),
        p ? `Battery ${fmt.percent(p.battery_pct)} · altitude ${fmt.metres(p.alt_m)} · ${fmt.speed(p.speed_mps)}` : 'no position',
        document.createElement('br'),
        s ? `Last seen ${fmt.lastSeen(s.t, this.now())}` : '',
      );
      this.place(h.drone.x, h.drone.y);
    } else {
      const k = h.cluster;
      this.tip.textContent = `${fmt.count(k.count)} drones${k.low ? `, ${fmt.count(k.low)} with battery < 20 %` : ''} · click to zoom in`;
      this.place(k.x, k.y - k.r + 8);
    }
  }

  private place(x: number, y: number): void {
    this.tip.hidden = false;
    this.tip.style.transform = `translate(${Math.round(x + 14)}px, ${Math.round(y - 10)}px)`;
  }
}
