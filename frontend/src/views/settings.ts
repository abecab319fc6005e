import { defaultTileUrl, OSM_URL, setTileUrl, tileUrl } from '../map/tiles';
import { h, toast } from '../ui';

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
  root.append(form);
}
