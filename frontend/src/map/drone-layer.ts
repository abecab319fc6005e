/**
 * All drones on one canvas: a heading arrow per drone coloured by status and battery, its
 * short trail, and a ring around the selected one. Redrawn at most once per frame, only
 * when something changed; clicks are hit-tested against the projected positions.
 */
import L from 'leaflet';
import { droneColor } from '../lib/colors';
import type { DroneState } from '../fleet-store';

const HIT_RADIUS_PX = 10;
const STALE_MS = 60_000;

export interface DrawnDrone {
  id: string;
  x: number;
  y: number;
  lat: number;
  lon: number;
}

export class DroneLayer extends L.Layer {
  private canvas!: HTMLCanvasElement;
  private frame: number | null = null;
  private drawn: DrawnDrone[] = [];
  selected: string | null = null;
  /** Called after each draw with the time of drawing (ms since epoch). */
  onDraw: ((at: number) => void) | null = null;
  onSelect: ((id: string) => void) | null = null;
  private mapRef: L.Map | null = null;

  constructor(private readonly source: () => Iterable<DroneState>) {
    super();
  }

  override onAdd(map: L.Map): this {
    this.mapRef = map;
    this.canvas = L.DomUtil.create('canvas', 'drone-canvas leaflet-zoom-hide');
    this.canvas.setAttribute('aria-label', 'Drone positions');
    this.canvas.setAttribute('role', 'img');
    map.getPanes().overlayPane.appendChild(this.canvas);
    map.on('moveend zoomend resize viewreset', this.redraw, this);
    map.on('click', this.handleClick, this);
    this.redraw();
    return this;
  }

  override onRemove(map: L.Map): this {
    map.off('moveend zoomend resize viewreset', this.redraw, this);
    map.off('click', this.handleClick, this);
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.canvas.remove();
    this.mapRef = null;
    return this;
  }

  /** Positions as drawn last, for tests and hit-testing. */
  get positions(): readonly DrawnDrone[] {
    return this.drawn;
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

  /** Draws at once: for callers already inside an animation frame (the live frame flush). */
  redrawNow(): void {
    if (!this.mapRef) return;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.draw();
  }

  private draw(): void {
    const map = this.mapRef;
    if (!map) return;
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
    const now = Date.now();
    const drawn: DrawnDrone[] = [];
    const bounds = map.getBounds().pad(0.1);
    let selected: { x: number; y: number } | null = null;

    ctx.lineWidth = 1.5;
    ctx.strokeStyle = 'rgba(30, 60, 110, 0.45)';
    ctx.beginPath();
    for (const s of this.source()) {
      if (!s.point || s.trail.size < 2) continue;
      if (!bounds.contains([s.point.lat, s.point.lon])) continue;
      s.trail.forEach((lat, lon, _t, i) => {
        const p = map.latLngToContainerPoint([lat, lon]);
        if (i === 0) ctx.moveTo(p.x, p.y);
        else ctx.lineTo(p.x, p.y);
      });
    }
    ctx.stroke();

    for (const s of this.source()) {
      const p = s.point;
      if (!p) continue;
      const pt = map.latLngToContainerPoint([p.lat, p.lon]);
      drawn.push({ id: s.id, x: pt.x, y: pt.y, lat: p.lat, lon: p.lon });
      if (pt.x < -20 || pt.y < -20 || pt.x > size.x + 20 || pt.y > size.y + 20) continue;
      const stale = now - s.t > STALE_MS;
      const color = droneColor(s.drone?.status, p.battery_pct);
      ctx.save();
      ctx.translate(pt.x, pt.y);
      ctx.rotate(((p.heading_deg ?? 0) * Math.PI) / 180);
      ctx.beginPath();
      ctx.moveTo(0, -9);
      ctx.lineTo(6, 6);
      ctx.lineTo(0, 3);
      ctx.lineTo(-6, 6);
      ctx.closePath();
      ctx.fillStyle = stale ? '#ffffff' : color;
      ctx.fill();
      ctx.lineWidth = stale ? 2 : 1;
      ctx.strokeStyle = stale ? color : '#0b1a2b';
      ctx.stroke();
      ctx.restore();
      if (s.id === this.selected) selected = pt;
    }
    if (selected) {
      ctx.beginPath();
      ctx.arc(selected.x, selected.y, 14, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#0050d0';
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(selected.x, selected.y, 17, 0, Math.PI * 2);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
    }
    this.drawn = drawn;
    this.onDraw?.(Date.now());
  }

  private handleClick(e: L.LeafletMouseEvent): void {
    const { x, y } = e.containerPoint;
    let best: DrawnDrone | null = null;
    let bestD = HIT_RADIUS_PX * HIT_RADIUS_PX;
    for (const d of this.drawn) {
      const dd = (d.x - x) ** 2 + (d.y - y) ** 2;
      if (dd <= bestD) {
        best = d;
        bestD = dd;
      }
    }
    if (best) this.onSelect?.(best.id);
  }
}
