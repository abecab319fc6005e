/**
 * The server's problem messages at the fields they name: one message slot per field
 * (`errors[].field` JSON paths, the top-level name picks the slot) and a general slot for
 * the rest, with `aria-invalid` on the named inputs.
 */
import { ApiError, parseFieldPath } from './lib/problem';
import { errorText, h } from './ui';

export class FormErrors {
  readonly general: HTMLElement;
  private readonly slots = new Map<string, HTMLElement>();

  constructor(private readonly form: HTMLElement, fields: readonly string[]) {
    for (const f of fields) this.slots.set(f, h('span', { class: 'field-error', role: 'alert', 'data-field': f }));
    this.general = h('p', { class: 'field-error', role: 'alert', 'data-field': '' });
  }

  /** The message slot of `field`, to place under its input. */
  slot(field: string): HTMLElement {
    return this.slots.get(field)!;
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
        const path = parseFieldPath(f.field);
        const name = path.list ?? path.field ?? '';
        const slot = this.slots.get(f.field) ?? this.slots.get(name) ?? this.slots.get(name.split('.')[0]!);
        if (!slot) {
          rest.push(f.field ? `${f.field}: ${f.message}` : f.message);
          continue;
        }
        slot.textContent = slot.textContent ? `${slot.textContent}; ${f.message}` : f.message;
        (this.form.querySelector(`[name="${f.field}"]`) ?? this.form.querySelector(`[name="${name}"]`))?.setAttribute('aria-invalid', 'true');
      }
    } else rest.push(errorText(e));
    if (rest.length) this.general.textContent = `${context}${rest.join('; ')}`;
    (this.form.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus();
  }
}
