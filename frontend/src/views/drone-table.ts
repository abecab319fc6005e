/**
 * The fleet's drones as a virtualised table: only the rows in view are in the DOM, a live
 * update rewrites just those rows' cells in place (so focus stays where it is), headers
 * sort, and rows are reached with the arrow keys (Enter selects, focus stays on the row).
 * A drone with an open warning or critical alert has a badge by its name.
 */
import { alerts } from '../alert-store';
import type { DroneState } from '../fleet-store';
import { droneColor } from '../lib/colors';
import type { SortDir, SortKey } from '../lib/fleet-filter';
import * as fmt from '../lib/format';
import { scrollToRow, virtualWindow } from '../lib/virtual';
import { h } from '../ui';

/** Row heights: one line of cells, or (phone) a name that may wrap above its serial. */
export const ROW_HEIGHT = 40;
export const ROW_HEIGHT_NARROW = 56;
const narrow = window.matchMedia('(max-width: 600px)');

const COLUMNS: Array<{ key: SortKey | null; label: string; col: string }> = [
  { key: 'name', label: 'Drone', col: 'name' },
  { key: 'status', label: 'Status', col: 'status' },
  { key: 'battery', label: 'Battery', col: 'battery' },
  { key: 'alt', label: 'Altitude', col: 'alt' },
  { key: 'speed', label: 'Speed', col: 'speed' },
  { key: 'seen', label: 'Last seen', col: 'seen' },
  { key: null, label: '', col: 'open' },
];

interface RowCells {
  swatch: HTMLElement;
  alert: HTMLElement;
  name: HTMLButtonElement;
  serial: HTMLElement;
  status: HTMLElement;
  battery: HTMLElement;
  alt: HTMLElement;
  speed: HTMLElement;
  seen: HTMLElement;
  open: HTMLAnchorElement;
}

export class DroneTable {
  readonly el: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private readonly head: HTMLElement;
  private rows: DroneState[] = [];
  private rendered = new Map<string, HTMLElement>();
  private cells = new WeakMap<HTMLElement, RowCells>();
  selected: string | null = null;
  sortKey: SortKey = 'name';
  sortDir: SortDir = 'asc';
  onSelect: ((id: string) => void) | null = null;
  onSort: ((key: SortKey, dir: SortDir) => void) | null = null;
  private rowHeight = narrow.matches ? ROW_HEIGHT_NARROW : ROW_HEIGHT;

  constructor() {
    this.body = h('div', { class: 'vt-body', role: 'rowgroup' });
    this.spacer = h('div', { class: 'vt-spacer' }, this.body);
    this.viewport = h('div', { class: 'vt-viewport', tabindex: 0, 'aria-label': 'Drones; use the arrow keys to move between rows, Enter to select' }, this.spacer);
    this.head = h('div', { class: 'vt-head', role: 'row' });
    this.el = h('div', { class: 'vt', role: 'table', 'aria-label': 'Drones', 'data-testid': 'drone-table' }, this.head, this.viewport);
    this.renderHead();
    this.viewport.addEventListener('scroll', () => this.renderWindow(), { passive: true });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    new ResizeObserver(() => {
      const rh = narrow.matches ? ROW_HEIGHT_NARROW : ROW_HEIGHT;
      if (rh !== this.rowHeight) {
        this.rowHeight = rh;
        for (const el of this.rendered.values()) el.style.height = `${rh}px`;
      }
      this.renderWindow();
    }).observe(this.viewport);
  }

  private renderHead(): void {
    this.head.replaceChildren(...COLUMNS.map((c) => {
      if (!c.key) return h('span', { role: 'columnheader', 'data-col': c.col });
      const key = c.key;
      const active = this.sortKey === key;
      const sort = active ? (this.sortDir === 'asc' ? 'ascending' : 'descending') : 'none';
      return h('span', { role: 'columnheader', 'aria-sort': sort, 'data-col': c.col },
        h('button', { type: 'button', class: 'sort', 'data-sort': key, title: `Sort by ${c.label.toLowerCase()}`, onclick: () => this.sortBy(key) },
          c.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (this.sortDir === 'asc' ? '▲' : '▼') : '')));
    }));
  }

  /** Sorts by `key`: the first click ascending (descending for battery, newest first for last seen), the next one reverses. */
  sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDir = this.sortDir === 'asc' ? 'desc' : 'asc';
    else {
      this.sortKey = key;
      this.sortDir = key === 'seen' ? 'desc' : 'asc';
    }
    this.renderHead();
    this.onSort?.(this.sortKey, this.sortDir);
  }

  setRows(rows: DroneState[]): void {
    this.rows = rows;
    this.renderWindow(true);
  }

  get rowCount(): number {
    return this.rows.length;
  }

  /** Rewrites the cells of the visible rows (after a live update). */
  refreshVisible(): void {
    for (const [, el] of this.rendered) {
      const s = this.rows[Number(el.dataset.index)];
      if (s) this.fill(el, s);
    }
  }

  select(id: string | null, scroll: boolean): void {
    this.selected = id;
    for (const [rid, el] of this.rendered) el.setAttribute('aria-selected', String(rid === id));
    if (scroll && id) {
      const index = this.rows.findIndex((r) => r.id === id);
      if (index >= 0) this.scrollTo(index);
    }
  }

  private scrollTo(index: number): void {
    const top = scrollToRow(index, this.rowHeight, this.viewport.scrollTop, this.viewport.clientHeight);
    if (top !== null) this.viewport.scrollTop = top;
    this.renderWindow();
  }

  private focusedIndex(): number {
    const row = (document.activeElement as HTMLElement | null)?.closest?.('.vt-row') as HTMLElement | null;
    if (row && this.body.contains(row)) return Number(row.dataset.index);
    return this.rows.findIndex((r) => r.id === this.selected);
  }

  private onKey(e: KeyboardEvent): void {
    const target = e.target as HTMLElement;
    if (e.key === 'Enter' && target.classList.contains('vt-row')) {
      e.preventDefault();
      const id = target.dataset.id!;
      this.select(id, false);
      this.onSelect?.(id);
      target.focus({ preventScroll: true });
      return;
    }
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const index = this.focusedIndex();
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? this.rows.length - 1
      : Math.min(this.rows.length - 1, Math.max(0, index + (e.key === 'ArrowDown' ? 1 : -1)));
    const row = this.rows[next];
    if (!row) return;
    this.scrollTo(next);
    this.rendered.get(row.id)?.focus({ preventScroll: true });
  }

  private renderWindow(force = false): void {
    const w = virtualWindow(this.rows.length, this.rowHeight, this.viewport.scrollTop, this.viewport.clientHeight || 400);
    this.spacer.style.height = `${w.totalPx}px`;
    this.body.style.transform = `translateY(${w.offsetPx}px)`;
    const focused = document.activeElement instanceof HTMLElement && this.body.contains(document.activeElement) ? document.activeElement : null;
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
    const same = children.length === this.body.children.length && children.every((c, i) => this.body.children[i] === c);
    if (!same) this.body.replaceChildren(...children);
    // Moving a focused row out of the DOM blurs it: give the focus back.
    if (focused && focused !== document.activeElement && this.body.contains(focused)) focused.focus({ preventScroll: true });
  }

  private makeRow(id: string): HTMLElement {
    const row = h('div', { class: 'vt-row', role: 'row', 'data-id': id, tabindex: -1, 'aria-selected': String(id === this.selected) });
    row.style.height = `${this.rowHeight}px`;
    const select = () => {
      this.select(id, false);
      this.onSelect?.(id);
    };
    const cells: RowCells = {
      swatch: h('span', { class: 'swatch', 'aria-hidden': 'true' }),
      alert: h('span', { class: 'alert-badge', role: 'img', hidden: true, 'data-testid': 'drone-alert-badge' }),
      name: h('button', { type: 'button', class: 'linkish', tabindex: -1, title: 'Select on the map', onclick: select }),
      serial: h('small', { class: 'muted' }),
      status: h('span', { role: 'cell', 'data-col': 'status' }),
      battery: h('span', { role: 'cell', 'data-col': 'battery' }),
      alt: h('span', { role: 'cell', 'data-col': 'alt' }),
      speed: h('span', { role: 'cell', 'data-col': 'speed' }),
      seen: h('span', { role: 'cell', 'data-col': 'seen' }),
      open: h('a', { href: `/drones/${id}`, 'data-link': true, class: 'row-open', tabindex: -1 }, 'Details'),
    };
    this.cells.set(row, cells);
    row.append(
      h('span', { role: 'cell', class: 'vt-name', 'data-col': 'name' }, cells.swatch, cells.alert, h('span', { class: 'vt-name-text' }, cells.name, cells.serial)),
      cells.status, cells.battery, cells.alt, cells.speed, cells.seen,
      h('span', { role: 'cell', 'data-col': 'open' }, cells.open),
    );
    row.addEventListener('click', (e) => {
      if ((e.target as Element).closest('a, button')) return;
      select();
    });
    row.addEventListener('focus', () => {
      for (const r of this.rendered.values()) r.tabIndex = r === row ? 0 : -1;
    });
    return row;
  }

  private fill(el: HTMLElement, s: DroneState): void {
    const c = this.cells.get(el)!;
    const d = s.drone;
    const p = s.point;
    const name = d ? d.name : `${s.id.slice(0, 8)}…`;
    const set = (node: HTMLElement, text: string) => {
      if (node.textContent !== text) node.textContent = text;
    };
    c.swatch.style.background = droneColor(d?.status, p?.battery_pct);
    const sev = alerts.severityOf(s.id);
    const badge = sev === 'critical' || sev === 'warning' ? sev : '';
    if ((c.alert.dataset.severity ?? '') !== badge) {
      c.alert.dataset.severity = badge;
      c.alert.hidden = !badge;
      c.alert.textContent = badge ? '!' : '';
      c.alert.setAttribute('aria-label', badge ? `${badge} alert open` : '');
      c.alert.title = badge ? `Open ${badge} alert (see Alerts)` : '';
    }
    set(c.name, name);
    set(c.serial, d?.serial ?? '');
    set(c.status, d?.status ?? '—');
    set(c.battery, fmt.percent(p?.battery_pct));
    set(c.alt, fmt.metres(p?.alt_m, 0));
    set(c.speed, fmt.speed(p?.speed_mps));
    set(c.seen, fmt.lastSeen(s.t));
    c.open.setAttribute('aria-label', `Details of ${name}`);
    el.setAttribute('aria-selected', String(s.id === this.selected));
  }
}
