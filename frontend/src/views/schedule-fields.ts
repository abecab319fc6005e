/**
 * The optional schedule of a geofence in its form: validity (in the dashboard's zone, like
 * every time input), the IANA zone of the weekly windows, and the windows themselves (days,
 * start, end; an end before the start runs past midnight). Field errors land at their row
 * through the form's slots (`schedule.weekly[1]`).
 */
import { WEEKDAYS, type Schedule, type Weekday, type WeeklyWindow } from '../api/airspace';
import type { FormErrors } from '../form-errors';
import { fromInputValue, toInputValue, zoneChoice, zoneLabel } from '../lib/time';
import { h } from '../ui';

const DAY_LABEL: Record<Weekday, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

export interface ScheduleFields {
  el: HTMLElement;
  /** The schedule to send, null for none; a string names what is missing in the inputs. */
  value(): Schedule | null | string;
}

function zoneList(): HTMLDataListElement {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return h('datalist', { id: 'fence-zones' }, ...['UTC', ...zones].map((z) => h('option', { value: z })));
}

export function scheduleFields(initial: Schedule | null, errors: FormErrors): ScheduleFields {
  const zone = zoneChoice();
  const windows: WeeklyWindow[] = initial ? initial.weekly.map((w) => ({ ...w, days: [...w.days] })) : [];
  const enabled = h('input', { id: 'fence-scheduled', type: 'checkbox', checked: !!initial, 'data-testid': 'fence-scheduled' });
  const at = (iso: string | null | undefined) => (iso ? toInputValue(Date.parse(iso), zone) : '');
  const from = h('input', { id: 'fence-valid-from', name: 'schedule.valid_from', type: 'datetime-local', value: at(initial?.valid_from) });
  const to = h('input', { id: 'fence-valid-to', name: 'schedule.valid_to', type: 'datetime-local', value: at(initial?.valid_to) });
  const tz = h('input', { id: 'fence-time-zone', name: 'schedule.time_zone', list: 'fence-zones', value: initial?.time_zone ?? 'UTC', autocomplete: 'off' });
  const rows = h('ol', { class: 'fence-windows' });

  const renderRows = () => {
    rows.replaceChildren(...windows.map((w, i) => {
      const day = (d: Weekday) => {
        const box = h('input', { type: 'checkbox', checked: w.days.includes(d), 'aria-label': `${DAY_LABEL[d]}, window ${i + 1}` });
        box.addEventListener('change', () => {
          w.days = WEEKDAYS.filter((x) => (x === d ? box.checked : w.days.includes(x)));
        });
        return h('label', { class: 'day' }, box, DAY_LABEL[d]);
      };
      const time = (key: 'start' | 'end', label: string) => {
        const input = h('input', { type: 'time', name: `schedule.weekly[${i}].${key}`, value: w[key], 'aria-label': `${label}, window ${i + 1}`, required: true });
        input.addEventListener('input', () => { w[key] = input.value; });
        return h('label', { class: 'wp-field' }, label, input);
      };
      return h('li', { class: 'fence-window', 'data-index': String(i) },
        h('div', { class: 'row days', role: 'group', 'aria-label': `Days of window ${i + 1}` }, ...WEEKDAYS.map(day)),
        h('div', { class: 'row' }, time('start', 'From'), time('end', 'To'),
          h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remove window ${i + 1}`, onclick: () => { windows.splice(i, 1); renderRows(); } }, 'Remove')),
        errors.slot(`schedule.weekly[${i}]`));
    }));
  };
  const add = h('button', { type: 'button', class: 'btn btn-small btn-secondary', onclick: () => {
    windows.push({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' });
    renderRows();
  } }, 'Add weekly window');

  const body = h('div', { class: 'fence-schedule', hidden: !initial },
    h('div', { class: 'row times' },
      h('div', {}, h('label', { for: from.id }, `Valid from (${zoneLabel(zone)})`), from, errors.slot('schedule.valid_from')),
      h('div', {}, h('label', { for: to.id }, `Valid to (${zoneLabel(zone)})`), to, errors.slot('schedule.valid_to'))),
    h('p', { class: 'hint' }, 'Leave empty for no start or no end.'),
    h('label', { for: tz.id }, 'Time zone of the weekly windows'), tz, zoneList(), errors.slot('schedule.time_zone'),
    h('p', { class: 'hint' }, 'No window: the fence holds all day while valid. A window ending before it starts runs past midnight.'),
    rows, h('div', {}, add), errors.slot('schedule.weekly'), errors.slot('schedule'));
  enabled.addEventListener('change', () => { body.hidden = !enabled.checked; });
  renderRows();

  const instant = (input: HTMLInputElement): string | null | undefined => {
    if (!input.value) return null;
    const t = fromInputValue(input.value, zone);
    return Number.isNaN(t) ? undefined : new Date(t).toISOString();
  };
  return {
    el: h('fieldset', { class: 'fence-schedule-fields' },
      h('legend', {}, h('label', { class: 'radio' }, enabled, ' Only at certain times (schedule)')), body),
    value() {
      if (!enabled.checked) return null;
      const validFrom = instant(from);
      const validTo = instant(to);
      if (validFrom === undefined || validTo === undefined) return 'Enter the validity as a date and time, or leave it empty.';
      if (windows.some((w) => w.days.length === 0 || !w.start || !w.end)) return 'Each weekly window needs at least one day, a start and an end.';
      return { valid_from: validFrom, valid_to: validTo, time_zone: tz.value.trim() || 'UTC', weekly: windows.map((w) => ({ ...w, days: [...w.days] })) };
    },
  };
}
