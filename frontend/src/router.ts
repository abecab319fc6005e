/** Client-side routes on the path (the server answers every unknown path with index.html). */

export type Cleanup = () => void;
export type View = (root: HTMLElement, params: Record<string, string>, query: URLSearchParams) => Cleanup | void | Promise<Cleanup | void>;

interface Route {
  pattern: RegExp;
  keys: string[];
  view: View;
}

const routes: Route[] = [];
let cleanup: Cleanup | null = null;
let rendering = 0;

export function route(path: string, view: View): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    '^' + path.replace(/:([a-z_]+)/g, (_m, k: string) => {
      keys.push(k);
      return '([^/]+)';
    }) + '/?$',
  );
  routes.push({ pattern, keys, view });
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  void render();
}

export async function render(): Promise<void> {
  const root = document.getElementById('main')!;
  const token = ++rendering;
  cleanup?.();
  cleanup = null;
  root.replaceChildren();
  const { pathname, search } = window.location;
  for (const r of routes) {
    const m = r.pattern.exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1]!)));
    const c = await r.view(root, params, new URLSearchParams(search));
    if (token !== rendering) {
      c?.();
      return;
    }
    cleanup = c ?? null;
    document.dispatchEvent(new CustomEvent('nimbus:route', { detail: pathname }));
    return;
  }
  root.textContent = 'Page not found. ';
  const a = document.createElement('a');
  a.href = '/';
  a.dataset.link = '';
  a.textContent = 'Go to the fleet overview';
  root.append(a);
}

/** Links with `data-link` navigate without reloading the page. */
export function interceptLinks(): void {
  document.addEventListener('click', (e) => {
    const a = (e.target as Element | null)?.closest?.('a[data-link]') as HTMLAnchorElement | null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute('href') ?? '/');
  });
  window.addEventListener('popstate', () => void render());
}
