import { defaultTileUrl, OSM_URL, setTileUrl, tileUrl } from '../map/tiles';
import { localZoneName, setZoneChoice, zoneChoice, type ZoneChoice } from '../lib/time';
import { h, toast } from '../ui';

function timeSection(): HTMLElement {
  const option = (value: ZoneChoice, text: string) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'zone', value, checked: zoneChoice() === value, 'data-testid': `zone-${value}` }), ` ${text}`);
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'time-title' },
    h('h2', { id: 'time-title' }, 'Times'),
    h('p', { class: 'hint' }, 'Every time on the dashboard (tables, charts, the plan editor) uses this zone and names it.'),
    option('utc', 'UTC'),
    option('local', `This browser's zone (${localZoneName()})`),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = new FormData(form).get('zone') === 'local' ? 'local' : 'utc';
    setZoneChoice(v);
    toast(`Times are now shown in ${v === 'utc' ? 'UTC' : localZoneName()}`);
  });
  return form;
}

export function settingsView(root: HTMLElement): void {
  const input = h('input', { id: 'tile-url', type: 'text', value: tileUrl(), size: 60, 'aria-describedby': 'tile-help', spellcheck: 'false' });
  const form = h('form', { class: 'card narrow' },
    h('h1', {}, 'Settings'),
    h('h2', {}, 'Map tiles'),
    h('label', { for: 'tile-url' }, 'Tile URL template'),
    input,
    h('p', { id: 'tile-help', class: 'hint' },
      'A {z}/{x}/{y} template, e.g. ', h('code', {}, OSM_URL),
      '. Leave empty for no tiles: the map then shows a plain background with a lat/lon grid, which also works offline. ',
      `Build default: ${defaultTileUrl() || '(none)'}. Saved in this browser only.`),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => { setTileUrl(null); input.value = tileUrl(); toast('Tile URL reset to the default'); } }, 'Reset to default'),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => { input.value = ''; } }, 'No tiles'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setTileUrl(input.value);
    toast(input.value ? 'Tile URL saved' : 'Map tiles turned off');
  });
  root.append(form, timeSection());
}
