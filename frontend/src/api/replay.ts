/**
 * The fleet at past instants: `GET /fleet/positions?at=` and the `GET /fleet/replay` NDJSON
 * stream, one `ReplayFrame` per line.
 */
import { positionsAtQuery, replayQuery, type PositionsAtQuery, type ReplayQuery } from '../lib/replay';
import type { components } from './schema';
import { send } from './client';

export type ReplayPoint = components['schemas']['PointDto'];

/** The fleet at one instant: each drone's last point at or before `at` within the window;
 * `incomplete` when a shard could not be read and its drones are missing. */
export type FleetFrame = components['schemas']['ReplayFrame'];

export const replayApi = {
  positionsAt: (q: PositionsAtQuery, signal?: AbortSignal) =>
    send<FleetFrame>('GET', `/fleet/positions${positionsAtQuery(q)}`, { signal }).then((r) => r.body),
  /** The replay's body, one `FleetFrame` per line (`readNdjson` reads it); a refusal (400
   * naming the parameter, 401, …) is thrown as `ApiError` before any frame. */
  stream: async (q: ReplayQuery, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> => {
    const r = await send<void>('GET', `/fleet/replay${replayQuery(q)}`, {
      raw: true,
      signal,
      headers: { accept: 'application/x-ndjson, application/problem+json' },
    });
    if (!r.response.body) throw new Error('the replay answered without a body');
    return r.response.body;
  },
};
