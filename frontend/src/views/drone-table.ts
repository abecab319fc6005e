/**
 * The fleet's drones as a virtualised table: only the rows in view are in the DOM, and a
 * live frame rewrites just those rows' cells.
 */
import type { DroneState } from '../fleet-store';
import { droneColor } from '../lib/colors';
import * as fmt from '../lib/format';
import { scrollToRow, virtualWindow } from '../lib/virtual';
import { h } from '../ui';

export const ROW_HEIGHT = 40;

export class DroneTable {
  readonly el: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private rows: DroneState[] = [];
  private rendered = new Map<string, HTMLElement>();
  selected: string | null = null;
  onSelect: ((id: string) => void) | null = null;

  constructor() {
    this.body = h('div', { class: 'vt-body', role: 'rowgroup' });
    this.spacer = h('div', { class: 'vt-spacer' }, this.body);
    this.viewport = h('div', { class: 'vt-viewport', tabindex: 0, 'aria-label': 'Drones; use the arrow keys to move the selection' }, this.spacer);
    this.el = h('div', { class: 'vt', role: 'table', 'aria-label': 'Drones', 'data-testid': 'drone-table' },
      h('div', { class: 'vt-head', role: 'row' },
        ...['Drone', 'Status', 'Battery', 'Altitude', 'Speed', 'Last seen', ''].map((t) => h('span', { role: 'columnheader' }, t))),
      this.viewport,
    );
    this.viewport.addEventListener('scroll', () => this.renderWindow(), { passive: true });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    new ResizeObserver(() => this.renderWindow()).observe(this.viewport);
  }

  setRows(rows: DroneState[]): void {
    this.rows = rows;
    this.renderWindow(true);
  }

  get rowCount(): number {
    return this.rows.length;
  }

  /** Rewrites the visible rows whose drones changed. */
  refresh(changed: Set<string>): void {
    for (const [id, el] of this.rendered) {
      if (changed.has(id)) {
        const s = this.rows[Number(el.dataset.index)];
        if (s) this.fill(el, s);
      }
    }
  }

  /** Refreshes the "last seen" column etc. of every visible row. */
  refreshAll(): void {
    this.renderWindow(true);
  }

  select(id: string | null, scroll: boolean): void {
    this.selected = id;
    for (const [rid, el] of this.rendered) el.setAttribute('aria-selected', String(rid === id));
    if (scroll && id) {
      const index = this.rows.findIndex((r) => r.id === id);
      if (index >= 0) {
        const top = scrollToRow(index, ROW_HEIGHT, this.viewport.scrollTop, this.viewport.clientHeight);
        if (top !== null) this.viewport.scrollTop = top;
        this.renderWindow();
      }
    }
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const index = this.rows.findIndex((r) => r.id === this.selected);
    const next = Math.min(this.rows.length - 1, Math.max(0, index + (e.key === 'ArrowDown' ? 1 : -1)));
    const row = this.rows[next];
    if (row) {
      this.select(row.id, true);
      this.onSelect?.(row.id);
    }
  }

  private renderWindow(force = false): void {
    const w = virtualWindow(this.rows.length, ROW_HEIGHT, this.viewport.scrollTop, this.viewport.clientHeight || 400);
    this.spacer.style.height = `${w.totalPx}px`;
    this.body.style.transform = `translateY(${w.offsetPx}px)`;
    const keep = new Map<string, HTMLElement>();
    const children: HTMLElement[] = [];
    for (let i = w.start; i < w.end; i++) {
      const s = this.rows[i]!;
      let el = this.rendered.get(s.id);
      const fresh = !el;
      if (!el) el = this.makeRow(s.id);
      el.dataset.index = String(i);
      if (fresh || force) this.fill(el, s);
      keep.set(s.id, el);
      children.push(el);
    }
    this.rendered = keep;
    this.body.replaceChildren(...children);
  }

  private makeRow(id: string): HTMLElement {
    const row = h('div', { class: 'vt-row', role: 'row', 'data-id': id, 'aria-selected': String(id === this.selected) });
    row.style.height = `${ROW_HEIGHT}px`;
    row.addEventListener('click', (e) => {
      if ((e.target as Element).closest('a')) return;
      this.select(id, false);
      this.onSelect?.(id);
    });
    return row;
  }

  private fill(el: HTMLElement, s: DroneState): void {
    const d = s.drone;
    const p = s.point;
    const name = d ? d.name : `${s.id.slice(0, 8)}…`;
    const color = droneColor(d?.status, p?.battery_pct);
    el.replaceChildren(
      h('span', { role: 'cell', class: 'vt-name' },
        h('span', { class: 'swatch', style: `background:${color}`, 'aria-hidden': 'true' }),
        h('span', { class: 'vt-name-text' },
          h('button', { type: 'button', class: 'linkish', title: 'Select on the map', onclick: () => { this.select(s.id, false); this.onSelect?.(s.id); } }, name),
          d ? h('small', { class: 'muted' }, d.serial) : null)),
      h('span', { role: 'cell' }, d?.status ?? '—'),
      h('span', { role: 'cell' }, fmt.percent(p?.battery_pct)),
      h('span', { role: 'cell' }, fmt.metres(p?.alt_m)),
      h('span', { role: 'cell' }, fmt.speed(p?.speed_mps)),
      h('span', { role: 'cell' }, p ? fmt.ago(s.t) : 'no data'),
      h('span', { role: 'cell' }, h('a', { href: `/drones/${s.id}`, 'data-link': true, class: 'row-open', 'aria-label': `Details of ${name}` }, 'Details')),
    );
    el.setAttribute('aria-selected', String(s.id === this.selected));
  }
}
