/**
 * Coalescing of live updates: events are buffered as they arrive and applied once per
 * animation frame, keeping only the newest point of each drone.
 */

export interface Timestamped {
  drone_id: string;
  ts: string;
}

/** Adds `points` to `buffer`, keeping per drone the point with the newest `ts`. */
export function coalesceInto<P extends Timestamped>(buffer: Map<string, P>, points: readonly P[]): void {
  for (const p of points) {
    const have = buffer.get(p.drone_id);
    if (!have || Date.parse(have.ts) <= Date.parse(p.ts)) buffer.set(p.drone_id, p);
  }
}

export type Scheduler = (run: () => void) => void;

/**
 * Buffers points and hands them to `apply` at most once per scheduled frame
 * (`requestAnimationFrame` in the browser).
 */
export class FrameCoalescer<P extends Timestamped> {
  private buffer = new Map<string, P>();
  private scheduled = false;

  constructor(
    private readonly apply: (points: P[], frameTime: number) => void,
    private readonly schedule: Scheduler = (run) => requestAnimationFrame(run),
    private readonly now: () => number = () => Date.now(),
  ) {}

  push(points: readonly P[]): void {
    coalesceInto(this.buffer, points);
    if (!this.scheduled && this.buffer.size > 0) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  get pending(): number {
    return this.buffer.size;
  }

  flush(): void {
    this.scheduled = false;
    if (this.buffer.size === 0) return;
    const points = [...this.buffer.values()];
    this.buffer = new Map();
    this.apply(points, this.now());
  }
}

/** Delay before reconnect attempt `attempt` (0-based): exponential from `baseMs`, capped, with jitter. */
export function backoffMs(attempt: number, baseMs = 1000, capMs = 30_000, random: () => number = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  // Up to 20 % jitter below the exponential value so clients do not reconnect in lockstep.
  return Math.round(exp * (0.8 + 0.2 * random()));
}
