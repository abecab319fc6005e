import 'leaflet/dist/leaflet.css';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { alerts } from './alert-store';
import { clearAlertToasts, installAlertToasts } from './alert-toasts';
import { api, setUnauthorizedHandler } from './api/client';
import { fleet } from './fleet-store';
import { LiveConnection, type LiveStatus } from './live';
import { interceptLinks, navigate, render, route } from './router';
import { session } from './session';
import { h, toast } from './ui';
import { loginView } from './views/login';
import { fleetView } from './views/fleet';
import { droneView } from './views/drone';
import { droneRegisterView } from './views/drone-register';
import { plansView } from './views/plans';
import { planEditorView } from './views/plan-editor';
import { planConflictsView } from './views/plan-conflicts';
import { geofencesView } from './views/geofences';
import { geofenceEditorView } from './views/geofence-editor';
import { replayView } from './views/replay';
import { adminView } from './views/admin';
import { settingsView } from './views/settings';
import { watchDisabledWebhooks } from './views/webhooks';
import { disabledCountText } from './lib/webhooks';
import { alertsView, alertView } from './views/alerts';
import * as fmt from './lib/format';
import { installTestHook } from './test-hook';
import { installTheme, nextTheme, setThemeChoice, themeLabel } from './theme';

let live: LiveConnection | null = null;
let ending = false;
let stopBadge: (() => void) | null = null;
let stopWebhookMark: (() => void) | null = null;

/** Ends the session locally and shows the login screen with `message`. */
export function signOut(message: string): void {
  if (ending) return;
  ending = true;
  live?.stop();
  live = null;
  session.clear();
  fleet.reset();
  alerts.reset();
  clearAlertToasts();
  document.getElementById('toast')?.classList.remove('visible');
  renderHeader();
  navigate(`/login?msg=${encodeURIComponent(message)}`, true);
  ending = false;
}

setUnauthorizedHandler((message) => {
  if (session.token) signOut(message);
});

function statusLabel(s: LiveStatus): string {
  return { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' }[s];
}

function themeToggle(): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'btn btn-secondary btn-small theme-toggle', 'data-testid': 'theme-toggle' });
  const show = () => {
    b.textContent = themeLabel();
    b.title = `${themeLabel()}; click for the next (system → dark → light)`;
  };
  b.addEventListener('click', () => { setThemeChoice(nextTheme()); show(); });
  window.addEventListener('nimbus:theme', show);
  show();
  return b;
}

/** The open alerts in the header: their count, coloured by the worst severity among them. */
function alertsLink(): HTMLAnchorElement {
  const badge = h('span', { class: 'nav-badge', 'data-testid': 'alerts-badge' });
  const a = h('a', { href: '/alerts', 'data-link': true, class: 'nav-link' }, 'Alerts', badge);
  const show = () => {
    const c = alerts.index.counts();
    const total = c.info + c.warning + c.critical;
    const worst = c.critical ? 'critical' : c.warning ? 'warning' : c.info ? 'info' : '';
    badge.hidden = total === 0;
    badge.textContent = `${fmt.count(total)}${alerts.truncated ? '+' : ''}`;
    badge.dataset.severity = worst;
    a.title = total ? `Open alerts: ${c.critical} critical, ${c.warning} warning, ${c.info} info` : 'No open alerts';
    a.setAttribute('aria-label', total ? `Alerts, ${total} open` : 'Alerts');
  };
  stopBadge?.();
  stopBadge = alerts.onBadges(show);
  show();
  return a;
}

/** Admins: "Admin" with a warning mark while the system has disabled a webhook. */
function adminLink(): HTMLAnchorElement {
  const badge = h('span', { class: 'nav-badge', 'data-severity': 'warning', 'data-testid': 'admin-badge', hidden: true });
  const a = h('a', { href: '/admin', 'data-link': true, class: 'nav-link' }, 'Admin', badge);
  stopWebhookMark = watchDisabledWebhooks((n) => {
    badge.hidden = n === 0;
    badge.textContent = n ? fmt.count(n) : '';
    a.title = n ? disabledCountText(n) : '';
    if (n) a.setAttribute('aria-label', `Admin, ${disabledCountText(n)}`);
    else a.removeAttribute('aria-label');
  });
  return a;
}

function renderHeader(): void {
  const header = document.getElementById('header')!;
  stopWebhookMark?.();
  stopWebhookMark = null;
  if (!session.me) {
    stopBadge?.();
    stopBadge = null;
    header.hidden = true;
    header.replaceChildren();
    return;
  }
  header.hidden = false;
  const indicator = h('button', { class: 'live-indicator', type: 'button', 'data-testid': 'live-status', title: 'Live connection; click to reconnect now' });
  live?.onStatus((s, detail) => {
    indicator.dataset.state = s;
    indicator.textContent = statusLabel(s);
    indicator.title = detail ? `${statusLabel(s)}: ${detail}. Click to retry now.` : `Live updates: ${statusLabel(s)}`;
  });
  indicator.addEventListener('click', () => live?.retryNow());
  const link = (href: string, text: string) => h('a', { href, 'data-link': true, class: 'nav-link' }, text);
  const me = session.me;
  header.replaceChildren(
    h('a', { href: '/', 'data-link': true, class: 'brand' }, 'NimbusFleet'),
    h('nav', { 'aria-label': 'Main' },
      link('/', 'Fleet'),
      alertsLink(),
      link('/plans', 'Flight plans'),
      link('/geofences', 'Geofences'),
      link('/replay', 'Replay'),
      session.can('admin') ? adminLink() : null,
      link('/settings', 'Settings'),
    ),
    h('div', { class: 'header-right' },
      indicator,
      themeToggle(),
      h('span', { class: 'who' }, `${me.user.name} · ${me.user.role} · ${me.organization.name}`),
      h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'logout', onclick: () => void logout() }, 'Sign out'),
    ),
  );
  const mark = () => {
    for (const a of header.querySelectorAll<HTMLAnchorElement>('nav a')) {
      const href = a.getAttribute('href')!;
      const here = href === '/' ? location.pathname === '/' || location.pathname.startsWith('/drones') : location.pathname.startsWith(href);
      if (here) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  };
  mark();
  document.addEventListener('nimbus:route', mark);
}

async function logout(): Promise<void> {
  try {
    await api.logout();
  } catch {
    // Signing out locally is what matters; the session also expires on its own.
  }
  signOut('You have signed out.');
}

/** Called after a successful login, or at start with a stored token. */
export async function startSession(): Promise<boolean> {
  try {
    session.me = await api.me();
  } catch {
    session.clear();
    return false;
  }
  live = new LiveConnection({ maxHz: 2, onLogout: (m) => signOut(m) });
  renderHeader();
  live.start();
  void alerts.load();
  fleet.load().catch((e) => toast(`Could not load the fleet: ${e instanceof Error ? e.message : e}`, 'error'));
  return true;
}

function guarded(view: Parameters<typeof route>[1]): Parameters<typeof route>[1] {
  return (root, params, query) => {
    if (!session.me) {
      navigate('/login', true);
      return;
    }
    return view(root, params, query);
  };
}

route('/login', loginView);
route('/', guarded(fleetView));
route('/drones/new', guarded(droneRegisterView));
route('/drones/:id', guarded(droneView));
route('/alerts', guarded(alertsView));
route('/alerts/:id', guarded(alertView));
route('/plans', guarded(plansView));
route('/plans/new', guarded(planEditorView));
route('/plans/:id/edit', guarded(planEditorView));
route('/plans/:id/conflicts', guarded(planConflictsView));
route('/geofences', guarded(geofencesView));
route('/geofences/new', guarded(geofenceEditorView));
route('/geofences/:id/edit', guarded(geofenceEditorView));
route('/replay', guarded(replayView));
route('/admin', guarded(adminView));
route('/settings', guarded(settingsView));

installTheme();
interceptLinks();
installAlertToasts();
installTestHook(() => live);

(async () => {
  if (session.token && location.pathname !== '/login') await startSession();
  if (!session.me && location.pathname !== '/login') navigate('/login', true);
  else await render();
})();
