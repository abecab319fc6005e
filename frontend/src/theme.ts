/**
 * Light or dark: follows `prefers-color-scheme` unless the user picked one (the header's
 * toggle, kept in localStorage). `<html data-resolved-theme>` carries the result for CSS and
 * the map canvas; a `nimbus:theme` event tells the canvas to redraw.
 */
export type ThemeChoice = 'auto' | 'light' | 'dark';

const KEY = 'nimbus.theme';
const media = window.matchMedia('(prefers-color-scheme: dark)');

export function themeChoice(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'auto';
}

export function resolvedTheme(choice: ThemeChoice = themeChoice()): 'light' | 'dark' {
  return choice === 'auto' ? (media.matches ? 'dark' : 'light') : choice;
}

function apply(): void {
  const root = document.documentElement;
  root.dataset.theme = themeChoice();
  root.dataset.resolvedTheme = resolvedTheme();
  root.style.colorScheme = resolvedTheme();
  window.dispatchEvent(new CustomEvent('nimbus:theme'));
}

export function setThemeChoice(choice: ThemeChoice): void {
  if (choice === 'auto') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  apply();
}

/** The toggle's next choice: system → dark → light → system. */
export function nextTheme(choice: ThemeChoice = themeChoice()): ThemeChoice {
  return choice === 'auto' ? 'dark' : choice === 'dark' ? 'light' : 'auto';
}

export function themeLabel(choice: ThemeChoice = themeChoice()): string {
  return choice === 'auto' ? `Theme: system (${resolvedTheme('auto')})` : `Theme: ${choice}`;
}

export function installTheme(): void {
  media.addEventListener('change', apply);
  apply();
}
