// surge.mjs: starts a real `surge serve` for the end-to-end tests (temp data dir, a port the
// kernel picks, portal users alice/admin and bob/viewer) and stops it again.
import { spawn, execFileSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ADMIN_TOKEN = 'e2e-admin-token';
export const USERS = { alice: ['admin', 'alice-pw'], bob: ['viewer', 'bob-pw'] };

export function surgeBinary() {
  const bin = process.env.SURGE_BIN || join(REPO, 'build/surge');
  if (!existsSync(bin)) throw new Error(`surge binary not found at ${bin}: build it or set SURGE_BIN`);
  return bin;
}

function userEntry(name, role, password) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, 1000, 32, 'sha256');
  return `${name}:${role}:pbkdf2-sha256$1000$${salt.toString('hex')}$${hash.toString('hex')}`;
}

/* Two model versions, 1.0.0 then 1.1.0 live, so that a rollback has somewhere to go. */
function trainModels(bin, dataDir) {
  const rows = ['region_id,ts,demand'];
  const t0 = Date.UTC(2026, 0, 1);
  for (const region of ['dr5ru', 'dr5rv'])
    for (let i = 0; i < 24 * 4 * 15; i++) {
      const h = Math.floor(i / 4) % 24;
      rows.push(`${region},${t0 + i * 900000},${(20 + 10 * Math.sin(h / 24 * 2 * Math.PI) + (i % 7)).toFixed(1)}`);
    }
  const csv = join(dataDir, 'train.csv');
  writeFileSync(csv, rows.join('\n') + '\n');
  const run = (...args) => execFileSync(bin, [...args, '--data-dir', dataDir], { stdio: 'pipe', env: childEnv() });
  run('train', '--input', csv, '--version', '1.0.0', '--rounds', '20');
  run('train', '--input', csv, '--version', '1.1.0', '--rounds', '25');
  run('models', 'promote', '1.0.0');
  run('models', 'promote', '1.1.0');
}

function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SURGE_')) env[k] = v;
  return env;
}

export async function startSurge({ withModels = true } = {}) {
  const bin = surgeBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'surge-e2e-'));
  let models = false;
  if (withModels) {
    try { trainModels(bin, dataDir); models = true; } catch (e) { models = false; }
  }
  const users = Object.entries(USERS).map(([n, [role, pw]]) => userEntry(n, role, pw)).join(',');
  const logPath = join(dataDir, 'surge.log');
  const log = openSync(logPath, 'a');
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
    '--set', `admin.token=${ADMIN_TOKEN}`, '--set', `portal.users=${users}`, ...(process.env.E2E_LOG_LEVEL ? ['--set', 'log.level=' + process.env.E2E_LOG_LEVEL] : [])],
  { stdio: ['ignore', log, log], env: childEnv() });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 20000;
  let url = null;
  while (Date.now() < deadline && !url) {
    if (exited) throw new Error(`surge exited early (${JSON.stringify(exited)}):\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    try {
      const addr = readFileSync(join(dataDir, 'listen.addr'), 'utf8').trim();
      if (/^[\d.]+:\d+$/.test(addr)) {
        const u = 'http://' + addr;
        const r = await fetch(u + '/readyz').catch(() => null);
        if (r && r.status === 200) url = u;
      }
    } catch (e) { /* not yet */ }
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) throw new Error('surge did not become ready within 20 s:\n' + readFileSync(logPath, 'utf8').slice(-2000));
  return {
    url, dataDir, logPath, models,
    api(method, path, body) {
      return fetch(url + path, {
        method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    async stop() {
      if (exited) return exited;
      const done = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const res = await done;
      clearTimeout(timer);
      // keep the data dir and log of a server that did not stop cleanly, for a look
      if (res.code === 0 && !process.env.E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
      return res;
    },
  };
}
