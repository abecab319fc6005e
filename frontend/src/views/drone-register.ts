/** Register a drone (operators and admins): the API's field errors are shown at their fields. */
import { api, type DroneStatus, type NewDrone } from '../api/client';
import { FormErrors } from '../form-errors';
import { fleet } from '../fleet-store';
import { navigate } from '../router';
import { session } from '../session';
import { h, notice, toast } from '../ui';

interface FieldSpec {
  name: string;
  label: string;
  type: 'text' | 'number' | 'status';
  required?: boolean;
  value?: string;
  hint?: string;
}

const FIELDS: FieldSpec[] = [
  { name: 'name', label: 'Name', type: 'text', required: true },
  { name: 'serial', label: 'Serial', type: 'text', required: true, hint: 'Unique in the organisation: letters, digits, - _ . /' },
  { name: 'model', label: 'Model', type: 'text', required: true },
  { name: 'manufacturer', label: 'Manufacturer', type: 'text' },
  { name: 'firmware_version', label: 'Firmware', type: 'text' },
  { name: 'status', label: 'Status', type: 'status', value: 'active' },
  { name: 'max_altitude_m', label: 'Max altitude (m)', type: 'number', required: true, value: '120' },
  { name: 'max_speed_mps', label: 'Max speed (m/s)', type: 'number', required: true, value: '20' },
  { name: 'endurance_min', label: 'Endurance (min)', type: 'number', required: true, value: '30' },
  { name: 'home.lat', label: 'Home latitude (°)', type: 'number', hint: 'optional, with the longitude' },
  { name: 'home.lon', label: 'Home longitude (°)', type: 'number' },
];

export function droneRegisterView(root: HTMLElement): void {
  if (!session.can('operator')) {
    root.append(notice('error', 'Only operators and admins can register drones. ', h('a', { href: '/', 'data-link': true }, 'Back to the fleet')));
    return;
  }
  const form = h('form', { class: 'card narrow', novalidate: true, 'aria-labelledby': 'register-title', 'data-testid': 'register-form' });
  const errors = new FormErrors(form, FIELDS.map((f) => f.name));
  const grid = h('div', { class: 'form-grid' });
  for (const f of FIELDS) {
    const id = `new-${f.name.replace('.', '-')}`;
    const input = f.type === 'status'
      ? h('select', { id, name: f.name }, ...['active', 'maintenance', 'grounded', 'retired'].map((s) => h('option', { value: s, selected: s === f.value }, s)))
      : h('input', { id, name: f.name, type: f.type, step: f.type === 'number' ? 'any' : null, value: f.value ?? '', required: f.required ?? false });
    grid.append(h('label', { for: id }, f.label), h('div', {}, input, f.hint ? h('small', { class: 'hint' }, ` ${f.hint}`) : null, errors.slot(f.name)));
  }
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Register');
  form.append(h('h1', { id: 'register-title' }, 'Register a drone'), grid, errors.general,
    h('div', { class: 'row' }, submit, h('a', { href: '/', 'data-link': true, class: 'btn btn-secondary' }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const d = new FormData(form);
    const text = (k: string) => String(d.get(k) ?? '').trim();
    const optional = (k: string) => text(k) || null;
    const number = (k: string) => (text(k) === '' ? Number.NaN : Number(text(k)));
    const lat = text('home.lat');
    const lon = text('home.lon');
    const body: NewDrone = {
      name: text('name'),
      serial: text('serial'),
      model: text('model'),
      manufacturer: optional('manufacturer'),
      firmware_version: optional('firmware_version'),
      status: text('status') as DroneStatus,
      max_altitude_m: number('max_altitude_m'),
      max_speed_mps: number('max_speed_mps'),
      endurance_min: number('endurance_min'),
      home: lat || lon ? { lat: Number(lat), lon: Number(lon), alt_m: 0 } : null,
    };
    submit.disabled = true;
    try {
      const drone = await api.createDrone(body);
      fleet.upsertDrone(drone);
      toast(`Drone "${drone.name}" registered`);
      navigate(`/drones/${drone.id}`);
    } catch (err) {
      errors.show(err, 'Not registered: ');
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h('div', { class: 'page' }, form));
  form.querySelector('input')?.focus();
}
