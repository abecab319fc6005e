/** Admin: the organisation's own battery alert thresholds. */
import { monitoringApi, type MonitoringPatch, type MonitoringSettings } from '../api/monitoring';
import { FormErrors } from '../form-errors';
import { errorText, h, notice, toast } from '../ui';

const FIELDS = ['battery_warn_pct', 'battery_critical_pct'] as const;
type Field = (typeof FIELDS)[number];

/** An input's value as the API wants it: a number, or `null` for "the installation's". */
function ownValue(raw: string): number | null {
  const v = raw.trim();
  return v === '' ? null : Number(v);
}

export function thresholdsSection(): HTMLElement {
  const box = h('div', {}, notice('loading', 'Loading thresholds…'));
  const el = h('section', { class: 'card', 'aria-labelledby': 'thresholds-title', 'data-testid': 'thresholds' },
    h('h2', { id: 'thresholds-title' }, 'Alert thresholds'),
    h('p', { class: 'hint' }, 'Battery levels below which the monitor raises battery_low for this organisation\'s drones. Leave a field empty to use the installation\'s value. A drone\'s own link timeout is set on its page.'),
    box);
  const render = (s: MonitoringSettings) => {
    const form = h('form', { class: 'form-grid', novalidate: true });
    const errors = new FormErrors(form, [...FIELDS]);
    const input = (field: Field, label: string, applies: number) => {
      const own = s.own[field];
      form.append(h('label', { for: `th-${field}` }, label),
        h('div', {},
          h('input', { id: `th-${field}`, name: field, type: 'number', min: 0, max: 100, step: 'any', value: own == null ? '' : String(own), placeholder: `${applies} (installation)` }),
          h('small', { class: 'hint' }, own == null ? ` Now ${applies} %, the installation's.` : ` Now ${applies} %, this organisation's own.`),
          errors.slot(field)));
    };
    input('battery_warn_pct', 'Warning below (%)', s.battery_warn_pct);
    input('battery_critical_pct', 'Critical below (%)', s.battery_critical_pct);
    form.append(errors.general,
      h('p', { class: 'hint' }, `Link timeout: ${s.link_timeout_s} s unless a drone has its own.`),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save thresholds')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const patch: MonitoringPatch = {};
      for (const f of FIELDS) {
        const v = ownValue(String(data.get(f) ?? ''));
        if (v !== (s.own[f] ?? null)) patch[f] = v;
      }
      if (Object.keys(patch).length === 0) return;
      try {
        render(await monitoringApi.update(patch));
        toast('Thresholds saved; the monitor applies them from each drone\'s next point');
      } catch (err) {
        errors.show(err, 'Not saved: ');
      }
    });
    box.replaceChildren(form);
  };
  monitoringApi.get().then(render, (e) => box.replaceChildren(notice('error', `Could not load thresholds: ${errorText(e)}`)));
  return el;
}
