import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { BIN, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { verifyChain } from '../helpers/openssl.ts';
import { freeLoopbackPort as freePort } from '../protocols/fixtures/helpers.ts';

function fetchJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

t.test('npm start (wardgate dev): makes a dev CA on first run and serves ACME over TLS chained to it', async (t) => {
  const dir = join(tempDir(t), 'dev');
  const [port, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, 'dev', '-d', dir, '--listen', `127.0.0.1:${port}`, '--http-listen', `127.0.0.1:${httpPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('root certificate:')) resolve(); });
    child.on('exit', (code) => reject(new Error(`dev exited ${code}: ${out}`)));
  });
  t.match(out, /DEV MODE/);
  t.match(out, new RegExp(`ACME directory: +https://127\\.0\\.0\\.1:${port}/acme/directory`));
  t.ok(existsSync(join(dir, 'DEV-MODE-INSECURE')), 'the data dir is marked as dev mode');
  const directory = await fetchJson(`https://127.0.0.1:${port}/acme/directory`, readFileSync(join(dir, 'ca', 'root.pem'), 'utf8'));
  t.equal(directory.newOrder, `https://127.0.0.1:${port}/acme/new-order`, 'the server certificate verifies against the dev root');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
});

/** Every file under `dir`, as relative paths (staging dirs included). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

t.test('npm start killed -9 while it creates the dev CA: the next npm start still serves', async (t) => {
  // A first `npm start` interrupted midway (a closed terminal, an OOM kill) must not leave a data dir the
  // next start cannot use: the dev CA is made in place, and open() completes what init had not written.
  const triggers: Array<[string, (dir: string) => () => boolean]> = [
    ['the first key is written', (dir) => () => filesUnder(dir).some((f) => f.endsWith('.key.pem'))],
    ['ca.json is written', (dir) => () => filesUnder(dir).some((f) => f.endsWith('ca.json'))],
    ['the store is created', (dir) => () => filesUnder(dir).some((f) => f.endsWith('wardgate.db'))],
  ];
  for (const [label, trigger] of triggers) {
    const dir = join(tempDir(t), 'dev');
    const [port, httpPort] = [await freePort(), await freePort()];
    const args = [BIN, 'dev', '-d', dir, '--listen', `127.0.0.1:${port}`, '--http-listen', `127.0.0.1:${httpPort}`];
    const first = spawn(process.execPath, args, { stdio: 'ignore' });
    const when = trigger(dir);
    const watch = setInterval(() => { if (when()) first.kill('SIGKILL'); }, 1);
    await new Promise((r) => first.once('exit', r));
    clearInterval(watch);
    const second = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => { second.kill('SIGKILL'); });
    let out = '';
    const started = await new Promise<boolean>((resolve) => {
      second.stdout.on('data', (d) => { out += d; if (out.includes('root certificate:')) resolve(true); });
      second.stderr.on('data', (d) => { out += d; });
      second.on('exit', () => resolve(false));
    });
    t.ok(started, `killed when ${label}: the next npm start serves (${out.trim().split('\n').pop()})`);
    if (started) {
      const directory = await fetchJson(`https://127.0.0.1:${port}/acme/directory`, readFileSync(join(dir, 'ca', 'root.pem'), 'utf8'));
      t.equal(directory.newOrder, `https://127.0.0.1:${port}/acme/new-order`, `killed when ${label}: its TLS chain verifies against the dev root`);
      t.ok(existsSync(join(dir, 'ca', 'intermediate.pem')), `killed when ${label}: the CA is complete`);
    }
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
  }
});

t.test('npm run dev:certs makes device certificates that verify', async (t) => {
  const out = join(tempDir(t), 'certs');
  const r = wardgate(['dev-certs', '--out', out]);
  t.equal(r.status, 0, r.stderr);
  for (const dev of ['pacs', 'ct-modality', 'hl7-engine', 'gateway', 'workstation']) {
    const [leaf, mid] = readFileSync(join(out, 'devices', `${dev}.pem`), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
    t.ok(verifyChain(readFileSync(join(out, 'root.pem'), 'utf8'), mid, leaf, out).ok, `${dev} verifies`);
  }
});

t.test('serve refuses a listen address outside the CA permits', async (t) => {
  const dir = join(tempDir(t), 'ca');
  const env = { WARDGATE_CA_PASSPHRASE: 'x' };
  t.equal(wardgate(['init', '-d', dir, '--name', 'T', '--permit-ip', '127.20.0.0/24', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env).status, 0);
  const r = wardgate(['serve', '-d', dir, '--listen', `127.0.0.1:${await freePort()}`], env);
  t.equal(r.status, 1);
  t.match(r.stderr, /^wardgate: error \[NAME_NOT_PERMITTED\]: the server's own name is outside the CA's permits.*127\.0\.0\.1.*\n$/);
  const bad = wardgate(['serve', '-d', dir, '--listen', 'nonsense'], env);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--listen "nonsense" is not ADDR:PORT/);
});
