/** How a cluster of drones is drawn: its label and size. */

/** Compact counts: 950, 1.2k, 12k. */
export function clusterLabel(n: number): string {
  if (n < 1000) return String(n);
  if (n < 10_000) return `${(n / 1000).toFixed(1).replace(/\.0$/, '')}k`;
  return `${Math.round(n / 1000)}k`;
}

/** A cluster's disc radius in pixels: grows with the logarithm of the count. */
export function clusterRadius(n: number): number {
  return Math.round(13 + 5 * Math.log10(Math.max(1, n)));
}
