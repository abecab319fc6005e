// Shared set-up of the end-to-end and performance scripts: a real server on a free port,
// Debian's Chromium through playwright-core, and clean-up on every exit path.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND = resolve(here, '..');
export const REPO = resolve(FRONTEND, '..');
export const SHOTS = join(REPO, 'target', 'e2e');

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `$NIMBUS_BIN serve --demo --simulate N` and waits for /health/ready. The answer can
 * stop and restart the process on the same port and data directory (sessions, which live in
 * the process, are lost on restart).
 */
export async function startServer(simulate, extraEnv = {}) {
  const bin = process.env.NIMBUS_BIN;
  if (!bin) throw new Error('set NIMBUS_BIN to the nimbusfleet binary');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-e2e-'));
  mkdirSync(SHOTS, { recursive: true });
  const logPath = join(SHOTS, `server-${simulate}.log`);
  const log = createWriteStream(logPath);
  const base = `http://127.0.0.1:${port}`;
  let child = null;
  let exited = null;

  const spawnServer = async () => {
    exited = null;
    child = spawn(bin, ['serve', '--demo', '--simulate', String(simulate), '--bind', `127.0.0.1:${port}`, '--data-dir', dataDir], {
      env: { ...process.env, NIMBUS__SERVER__DASHBOARD_DIR: join(FRONTEND, 'dist'), NIMBUS__LOG__LEVEL: 'warn', RUST_LOG: 'warn', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('exit', (code, signal) => { exited = { code, signal }; });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`the server exited at start (${JSON.stringify(exited)}); see ${logPath}`);
      try {
        const r = await fetch(`${base}/health/ready`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('the server was not ready within 60 s');
      await sleep(200);
    }
  };

  const kill = async () => {
    if (child && !exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
      for (let i = 0; i < 20 && !exited; i++) await sleep(100);
    }
  };

  await spawnServer();
  return {
    base,
    /** Stops the process but keeps its data, for `start`. */
    halt: kill,
    start: spawnServer,
    async stop() {
      await kill();
      log.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

export async function login(page, base, email = 'admin@demo.nimbusfleet.local', password = 'demo-admin-password') {
  await page.goto(`${base}/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=fleet-map]', { timeout: 15_000 });
}

/** Runs `body` with a server and a browser, and always stops both. Exits non-zero on failure. */
export async function run(name, simulate, body) {
  let server = null;
  let browser = null;
  const stopAll = async () => {
    await browser?.close().catch(() => undefined);
    browser = null;
    await server?.stop().catch(() => undefined);
    server = null;
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void stopAll().then(() => process.exit(130)));
  try {
    server = await startServer(simulate);
    browser = await launchBrowser();
    await body({ base: server.base, browser, server });
    await stopAll();
  } catch (e) {
    console.error(`${name}: FAILED: ${e?.stack ?? e}`);
    await stopAll();
    process.exit(1);
  }
}
