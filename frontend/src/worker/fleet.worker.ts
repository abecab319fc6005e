/**
 * The fleet worker: decodes live and REST positions, keeps the fleet's newest values and
 * the cluster index, and answers with the changed values and the frame to draw, so the
 * page's main thread never parses a batch or builds an index.
 */
import { FleetIndex } from './fleet-index';
import type { Frame, FromWorker, ToWorker } from './protocol';

const index = new FleetIndex();
let rebuildTimer: ReturnType<typeof setTimeout> | null = null;

function post(slots: Int32Array, values: Float64Array, frame: Frame | null, decodeMs: number): void {
  const newIds = index.takeNewIds();
  if (!frame && slots.length === 0 && newIds.length === 0) return;
  const msg: FromWorker = { type: 'update', newIds, slots, values, frame, bounds: index.fleetBounds, decodeMs };
  const transfer: Transferable[] = [slots.buffer, values.buffer];
  if (frame) transfer.push(frame.clusters.buffer, frame.singles.buffer);
  (self as unknown as Worker).postMessage(msg, transfer);
}

/** After live changes: a frame now when it needs no index or the index is current or due, else when it is due. */
function frameWhenDue(): Frame | null {
  if (!index.clustered) return index.frame();
  const due = index.rebuildDueIn();
  if (due === null || due === 0) return index.frame();
  if (rebuildTimer === null) {
    rebuildTimer = setTimeout(() => {
      rebuildTimer = null;
      post(new Int32Array(0), new Float64Array(0), index.frame(), 0);
    }, due);
  }
  return null;
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'positions': {
      const started = performance.now();
      let changed;
      try {
        changed = index.applyJson(m.json);
      } catch {
        // A malformed event is skipped; the next one carries the newest positions anyway.
        return;
      }
      const decodeMs = performance.now() - started;
      post(changed.slots, changed.values, frameWhenDue(), decodeMs);
      return;
    }
    case 'drones':
      index.upsertMeta(m.drones);
      post(new Int32Array(0), new Float64Array(0), frameWhenDue(), 0);
      return;
    case 'remove':
      index.remove(m.id);
      post(new Int32Array(0), new Float64Array(0), index.frame(true), 0);
      return;
    case 'filter':
      index.setFilter(m.filter);
      post(new Int32Array(0), new Float64Array(0), index.frame(true), 0);
      return;
    case 'view':
      index.setView(m.view);
      post(new Int32Array(0), new Float64Array(0), index.frame(), 0);
      return;
  }
};
