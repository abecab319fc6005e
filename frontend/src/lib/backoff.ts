/** Reconnect delays of the live stream. */

/** Delay before reconnect attempt `attempt` (0-based): exponential from `baseMs`, capped, with jitter. */
export function backoffMs(attempt: number, baseMs = 1000, capMs = 30_000, random: () => number = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  // Up to 20 % jitter below the exponential value so clients do not reconnect in lockstep.
  return Math.round(exp * (0.8 + 0.2 * random()));
}
