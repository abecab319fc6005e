/**
 * A visual notification, without sound, when a critical alert is raised: a card at the top
 * right with the alert in words and a link to it, gone after `SHOW_MS` (kept while the
 * keyboard focus is in it). Clicks go through it but for its link and close button, so it
 * never blocks what it covers for long. At most `MAX_STACKED` at a time: a new one pushes out the oldest.
 * Each alert is announced once, also when a reconnect replays its event; the alerts screen
 * keeps them all.
 */
import { alerts, type AlertBatch } from './alert-store';
import type { Alert } from './api/alerts';
import { fleet } from './fleet-store';
import { alertHeadline } from './lib/alerts';
import { h } from './ui';

const SHOW_MS = 8000;
const MAX_STACKED = 3;
/** Alerts remembered as announced. */
const MAX_REMEMBERED = 1000;

let container: HTMLElement | null = null;
const announced = new Set<string>();

function stack(): HTMLElement {
  if (!container || !container.isConnected) {
    container = h('div', { class: 'alert-toasts', 'aria-live': 'polite', 'aria-label': 'New critical alerts', 'data-testid': 'alert-toasts' });
    document.body.append(container);
  }
  return container;
}

function show(a: Alert): void {
  const box = stack();
  const drone = fleet.drones.get(a.drone_id)?.drone?.name ?? `drone ${a.drone_id.slice(0, 8)}…`;
  let timer: number | undefined;
  const close = () => {
    window.clearTimeout(timer);
    card.remove();
  };
  const arm = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(close, SHOW_MS);
  };
  const card = h('div', { class: 'alert-toast', role: 'status', 'data-testid': 'alert-toast', 'data-alert-id': a.id },
    h('div', { class: 'alert-toast-text' }, h('strong', {}, drone), h('br', {}), alertHeadline(a)),
    h('div', { class: 'row' },
      h('a', { href: `/alerts/${a.id}`, 'data-link': true, 'data-testid': 'alert-toast-link', onclick: close }, 'Open alert'),
      h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'aria-label': 'Dismiss', onclick: close }, '×')));
  card.addEventListener('focusin', () => window.clearTimeout(timer));
  card.addEventListener('focusout', arm);
  box.prepend(card);
  while (box.children.length > MAX_STACKED) box.lastElementChild?.remove();
  arm();
}

function onBatch(b: AlertBatch): void {
  for (const { change, alert } of b.events) {
    if (change !== 'raised' || alert.severity !== 'critical' || alert.state !== 'open' || announced.has(alert.id)) continue;
    announced.add(alert.id);
    if (announced.size > MAX_REMEMBERED) announced.delete(announced.values().next().value!);
    show(alert);
  }
}

/** Starts announcing (once per page). */
export function installAlertToasts(): void {
  alerts.subscribe(onBatch);
}

/** Removes the notifications shown (sign-out). */
export function clearAlertToasts(): void {
  container?.replaceChildren();
  announced.clear();
}
