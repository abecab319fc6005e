/**
 * The server's problem messages at the fields they name: one message slot per field
 * (`errors[].field` JSON paths; the slot of the longest path containing it is used, so
 * `waypoints[2].alt_m` lands at `waypoints[2]` or `waypoints`) and a general slot for the
 * rest, with `aria-invalid` on the named inputs.
 */
import { ApiError, fieldPathAncestors } from './lib/problem';
import { errorText, h } from './ui';

export class FormErrors {
  readonly general: HTMLElement;
  private readonly slots = new Map<string, HTMLElement>();

  constructor(private readonly form: HTMLElement, fields: readonly string[]) {
    for (const f of fields) this.slots.set(f, h('span', { class: 'field-error', role: 'alert', 'data-field': f }));
    this.general = h('p', { class: 'field-error', role: 'alert', 'data-field': '' });
  }

  /** The message slot of `field`, to place under its input; made on first use, so that rows
   * added later (`schedule.weekly[3]`) get one. */
  slot(field: string): HTMLElement {
    let el = this.slots.get(field);
    if (!el) this.slots.set(field, (el = h('span', { class: 'field-error', role: 'alert', 'data-field': field })));
    return el;
  }

  clear(): void {
    for (const el of this.slots.values()) el.textContent = '';
    this.general.textContent = '';
    for (const el of this.form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  }

  /** Shows `e`; field errors at their fields, anything else in the general slot. */
  show(e: unknown, context = ''): void {
    this.clear();
    const rest: string[] = [];
    if (e instanceof ApiError && e.fieldErrors.length > 0) {
      for (const f of e.fieldErrors) {
        const paths = fieldPathAncestors(f.field);
        const slot = paths.map((p) => this.slots.get(p)).find((el) => el?.isConnected);
        if (!slot) {
          rest.push(f.field ? `${f.field}: ${f.message}` : f.message);
          continue;
        }
        slot.textContent = slot.textContent ? `${slot.textContent}; ${f.message}` : f.message;
        for (const p of paths) {
          const input = this.form.querySelector(`[name="${CSS.escape(p)}"]`);
          if (input) {
            input.setAttribute('aria-invalid', 'true');
            break;
          }
        }
      }
    } else rest.push(errorText(e));
    if (rest.length) this.general.textContent = `${context}${rest.join('; ')}`;
    (this.form.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus();
  }
}
