/** A fixed-size ring buffer of a drone's recent positions, oldest first when read. */
export class Trail {
  private readonly lats: Float64Array;
  private readonly lons: Float64Array;
  private readonly times: Float64Array;
  private start = 0;
  private length = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('a trail holds at least one point');
    this.lats = new Float64Array(capacity);
    this.lons = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  get size(): number {
    return this.length;
  }

  /** Adds a point unless it is older than the newest one or at the same place. */
  push(lat: number, lon: number, t: number): boolean {
    if (this.length > 0) {
      const last = (this.start + this.length - 1) % this.capacity;
      if (t < this.times[last]!) return false;
      if (this.lats[last] === lat && this.lons[last] === lon) {
        this.times[last] = t;
        return false;
      }
    }
    const at = (this.start + this.length) % this.capacity;
    this.lats[at] = lat;
    this.lons[at] = lon;
    this.times[at] = t;
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
    return true;
  }

  /** Drops points older than `minT`. */
  prune(minT: number): void {
    while (this.length > 0 && this.times[this.start]! < minT) {
      this.start = (this.start + 1) % this.capacity;
      this.length -= 1;
    }
  }

  /** Calls `f` for each point, oldest first. */
  forEach(f: (lat: number, lon: number, t: number, i: number) => void): void {
    for (let i = 0; i < this.length; i++) {
      const at = (this.start + i) % this.capacity;
      f(this.lats[at]!, this.lons[at]!, this.times[at]!, i);
    }
  }

  toArray(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    this.forEach((lat, lon) => out.push([lat, lon]));
    return out;
  }
}
