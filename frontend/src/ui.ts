/** Small DOM helpers: element creation, messages and download of blobs. */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A status line: loading, error or empty, with what to do next. */
export function notice(kind: 'loading' | 'error' | 'empty' | 'info', text: string, ...extra: Child[]): HTMLElement {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text, ...extra);
}

let toastTimer: number | undefined;
/** A short message at the bottom of the screen, read out by screen readers. */
/** Copies a secret shown once; where the clipboard is blocked, selects its `code` element
 * instead and says so. `what` names it in the message ("Key", "Signing secret"). */
export async function copySecret(code: HTMLElement, secret: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(secret);
    toast(`${what} copied`);
  } catch {
    const r = document.createRange();
    r.selectNodeContents(code);
    getSelection()?.removeAllRanges();
    getSelection()?.addRange(r);
    toast(`Copying is blocked here: the ${what.toLowerCase()} is selected, press Ctrl+C`, 'error');
  }
}

export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.className = `toast toast-${kind} visible`;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => el.classList.remove('visible'), 4000);
}

export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
