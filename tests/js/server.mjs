// Boots a real Roster server for one test file and gives the tests what they need to reach it.
//
// The binary comes from $ROSTER_BIN, else <repo>/target/debug/roster. Each server gets a fresh data
// directory and a fresh random secret key, and listens on an ephemeral port that we learn from its
// "listening on http://127.0.0.1:PORT" line on stdout. The environment is inherited, so
// ROSTER_DATABASE_URL (PostgreSQL runs) passes through.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

// Overridable for slow machines (or to test this helper); 30 s by default.
const READY_TIMEOUT_MS = Number(process.env.ROSTER_READY_TIMEOUT_MS) || 30_000;
const STOP_GRACE_MS = 5_000;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
// Enough of the server's output to explain a failure, without letting a chatty server eat memory.
const MAX_LOG_CHARS = 64 * 1024;

export function rosterBinary() {
  return process.env.ROSTER_BIN || path.join(repoRoot, 'target', 'debug', 'roster');
}

/**
 * Starts `roster serve` and resolves once it is accepting connections.
 * @returns {Promise<{url: string, secretKey: string, dataDir: string, logs: () => string, stop: () => Promise<void>}>}
 */
export async function startServer() {
  const bin = rosterBinary();
  if (!existsSync(bin)) {
    throw new Error(
      `roster binary not found at ${bin}; run \`cargo build -p roster-server\` in ${repoRoot} or set ROSTER_BIN`,
    );
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'roster-js-'));
  const secretKey = `sk_test_${randomBytes(24).toString('hex')}`;

  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ROSTER_SECRET_KEY: secretKey, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let stdoutLog = '';
  let stderrLog = '';
  const keep = (log, chunk) => (log + chunk).slice(-MAX_LOG_CHARS);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderrLog = keep(stderrLog, chunk);
  });

  let exited = false;
  // If the test runner dies without running `after` hooks, don't leave the server behind.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      process.removeListener('exit', killOnExit);
      resolve({ code, signal });
    });
  });

  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });

  let url;
  try {
    url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `roster did not print "listening on http://127.0.0.1:PORT" within ${READY_TIMEOUT_MS} ms.\n` +
              `stdout:\n${stdoutLog}\nstderr:\n${stderrLog}`,
          ),
        );
      }, READY_TIMEOUT_MS);

      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${bin}: ${err.message}`));
      });
      exitPromise.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(
            `roster exited before it was ready (code ${code}, signal ${signal}).\n` +
              `stdout:\n${stdoutLog}\nstderr:\n${stderrLog}`,
          ),
        );
      });

      // Keep reading stdout after the match: a full pipe would block the server's writes.
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        stdoutLog = keep(stdoutLog, `${line}\n`);
        const match = LISTENING.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
  } catch (err) {
    await kill(child, exitPromise, () => exited);
    await removeDataDir();
    throw err;
  }

  let stopped = false;
  return {
    url,
    secretKey,
    dataDir,
    logs: () => `stdout:\n${stdoutLog}\nstderr:\n${stderrLog}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill(child, exitPromise, () => exited);
      await removeDataDir();
    },
  };
}

async function kill(child, exitPromise, hasExited) {
  if (hasExited()) return;
  child.kill('SIGTERM');
  const graceful = await Promise.race([
    exitPromise.then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), STOP_GRACE_MS).unref()),
  ]);
  if (!graceful && !hasExited()) {
    child.kill('SIGKILL');
    await exitPromise;
  }
}
