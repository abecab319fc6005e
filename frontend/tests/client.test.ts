import { describe, expect, it, vi } from 'vitest';

// The client reads the session token from sessionStorage; node has none.
const storage = new Map<string, string>();
vi.stubGlobal('sessionStorage', {
  getItem: (k: string) => storage.get(k) ?? null,
  setItem: (k: string, v: string) => void storage.set(k, v),
  removeItem: (k: string) => void storage.delete(k),
});

const { send } = await import('../src/api/client');

function answer(status: number, headers: Record<string, string> = {}, body: unknown = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}


describe('read-after tokens', () => {
  it('sends the token of the last write with every later call', async () => {
    const sent: Headers[] = [];
    const replies = [
      answer(200),
      answer(201, { 'nimbus-read-after': 's0=0/16B3748.sigA' }, { id: 'a' }),
      answer(200),
      answer(204, { 'nimbus-read-after': 's0=0/16B3800,s1=0/20.sigB' }),
      answer(200),
    ];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      sent.push(new Headers(init.headers as Record<string, string>));
      return replies.shift()!;
    });
    await send('GET', '/drones');
    await send('POST', '/drones', { body: { serial: 'A' } });
    await send('GET', '/drones/a');
    await send('DELETE', '/drones/a');
    await send('GET', '/drones');
    expect(sent.map((h) => h.get('nimbus-read-after'))).toEqual([
      null,
      null,
      's0=0/16B3748.sigA',
      's0=0/16B3748.sigA',
      's0=0/16B3800,s1=0/20.sigB',
    ]);
  });
});
