/**
 * One lock per data dir, through the real CLI: `serve` holds it for its lifetime, the commands that create
 * or replace the CA (init, restore, ca rollover, ca root-offline) need it, and everything an admin runs
 * next to a live serve (list, backup, issue, revoke, eab, crl) goes on without it. A kill -9 of the holder
 * frees it: the kernel drops the process's locks.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, wardgate, type CliResult } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeCsr, openssl } from '../helpers/openssl.ts';
import { assertCompleteCa, fillStore } from '../helpers/data-dir-checks.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe, type ServeProcess } from '../interop/fixtures/serve-process.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const fastKeys = ['--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'];
const initArgs = (dir: string) => ['init', '-d', dir, '--name', 'Lock', '--permit-dns', 'klinikum.internal', '--permit-ip', '127.0.0.0/8', ...fastKeys];
const LOCKED_BY_SERVE = (pid: number | undefined) => new RegExp(`^wardgate: error \\[DATA_DIR_LOCKED\\]: data dir \\S+ is in use by wardgate serve, pid ${pid}\\b[^\\n]*\\n$`);

async function serveOn(t: Parameters<typeof tempDir>[0], dir: string, host: string): Promise<ServeProcess> {
  const httpHost = host.replace(/\d+$/, (n) => String(Number(n) + 1));
  return spawnServe(t, ['--data-dir', dir, '--listen', `${host}:${await freePort(host)}`, '--http-listen', `${httpHost}:${await freePort(httpHost)}`]);
}

/** How a serve that should be refused ended: its exit, or 'started' when it came up (the bug). */
async function outcome(server: ServeProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'started'> {
  return Promise.race([server.exited, server.ready.then(() => 'started' as const, () => server.exited)]);
}

/** `wardgate ARGS` as a child process that does not block the event loop (for commands run side by side). */
function start(args: string[]): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<CliResult>((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done };
}

/**
 * Runs `args` twice on one data dir: the first is frozen (SIGSTOP) as soon as its staging dir appears, the
 * second runs to its end meanwhile, then the first goes on. No timing luck: the second always meets the
 * first midway.
 */
async function secondWhileFirstBuilds(t: Parameters<typeof tempDir>[0], dir: string, args: string[]): Promise<{ first: CliResult; second: CliResult; firstPid?: number }> {
  const first = start(args);
  t.teardown(() => { first.child.kill('SIGKILL'); });
  const building = () => existsSync(dir) && readdirSync(dir).some((n) => n.startsWith('.wardgate-staging-'));
  while (!building()) {
    if (first.child.exitCode !== null) throw new Error(`the first run ended before its staging dir appeared: ${(await first.done).stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  first.child.kill('SIGSTOP');
  const second = await start(args).done;
  first.child.kill('SIGCONT');
  return { first: await first.done, second, firstPid: first.child.pid };
}

const lockFiles = (dir: string) => readdirSync(dir).filter((n) => n.includes('lock'));

t.test('a running serve holds the data dir: a second serve, init, restore, rollover and root-offline are refused naming it; the everyday commands work next to it', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(initArgs(dir), env);
  t.equal(init.status, 0, init.stderr);
  t.same(lockFiles(dir), [], 'init leaves no lock file behind');
  const archive = join(work, 'before.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', archive], env).status, 0);

  const server = await serveOn(t, dir, '127.30.8.1');
  await server.ready;
  const pid = server.child.pid;

  const second = await serveOn(t, dir, '127.30.8.3');
  const ended = await outcome(second);
  t.not(ended, 'started', 'a second serve on the same data dir does not start');
  t.same(ended, { code: 1, signal: null }, 'it exits 1');
  t.match(second.stderr(), LOCKED_BY_SERVE(pid), `second serve: ${second.stderr().trim()}`);

  const refused: Array<[string, string[]]> = [
    ['init', initArgs(dir)],
    ['restore', ['restore', '-d', dir, '--from', archive]],
    ['ca rollover', ['ca', 'rollover', '-d', dir]],
    ['ca root-offline', ['ca', 'root-offline', '-d', dir, '--out', join(work, 'root-key.pem')]],
  ];
  for (const [label, args] of refused) {
    const r = wardgate(args, env);
    t.equal(r.status, 1, `${label}: exit 1`);
    t.match(r.stderr, LOCKED_BY_SERVE(pid), `${label}: ${r.stderr.trim()}`);
  }
  t.notOk(existsSync(join(work, 'root-key.pem')), 'no root key exported');
  t.same(JSON.parse(wardgate(['list', '-d', dir, '--issuers', '--json'], env).stdout).issuers.map((i: { id: string }) => i.id), ['ecdsa-1', 'rsa-1'], 'no rollover happened');

  const { csr } = makeCsr(work, 'live', { cn: 'live.klinikum.internal' });
  const issue = wardgate(['issue', '-d', dir, '--csr', csr, '--out', join(work, 'live.pem')], env);
  t.equal(issue.status, 0, `issue next to serve ${issue.stderr}`);
  const serial = openssl(['x509', '-noout', '-serial', '-in', join(work, 'live.pem')]).trim().split('=')[1];
  for (const args of [['revoke', serial, '-d', dir], ['eab', 'create', '-d', dir, '--label', 'next to serve'], ['crl', '-d', dir], ['list', '-d', dir], ['renew-early', '-d', dir, '--all'], ['backup', '-d', dir, '--out', join(work, 'during.wgb')]]) {
    const r = wardgate(args, env);
    t.equal(r.status, 0, `${args[0]} next to serve ${r.stderr}`);
  }
  t.equal(server.child.exitCode, null, 'serve is still running');

  server.child.kill('SIGTERM');
  t.same(await server.exited, { code: 0, signal: null }, 'serve stops cleanly on SIGTERM');
  t.same(lockFiles(dir), [], 'and removes its lock file');
  const restored = wardgate(['restore', '-d', join(work, 'restored'), '--from', join(work, 'during.wgb')], env);
  t.equal(restored.status, 0, `the backup taken next to serve restores ${restored.stderr}`);
  t.same(readdirSync(join(work, 'restored')).sort(), ['ca', 'wardgate.db'], 'serve\'s lock files were not packed into it');
});

t.test('kill -9 of a serve: the next serve starts without manual cleanup and nothing is lost', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  t.equal(wardgate(initArgs(dir), env).status, 0);
  const first = await serveOn(t, dir, '127.30.8.5');
  await first.ready;
  const serials: string[] = [];
  for (const name of ['a', 'b']) {
    const { csr } = makeCsr(work, name, { cn: `${name}.klinikum.internal` });
    t.equal(wardgate(['issue', '-d', dir, '--csr', csr, '--out', join(work, `${name}.pem`)], env).status, 0);
    serials.push(openssl(['x509', '-noout', '-serial', '-in', join(work, `${name}.pem`)]).trim().split('=')[1]);
  }
  t.equal(wardgate(['revoke', serials[0], '-d', dir], env).status, 0);
  first.child.kill('SIGKILL');
  t.same(await first.exited, { code: null, signal: 'SIGKILL' });

  const next = await serveOn(t, dir, '127.30.8.5');
  const ended = await outcome(next);
  t.equal(ended, 'started', `the next serve starts on its own ${next.stderr()}`);
  const listed = JSON.parse(wardgate(['list', '-d', dir, '--json'], env).stdout) as Array<{ serial: string; status: string }>;
  t.same(serials.map((s) => listed.find((c) => c.serial.toLowerCase() === s.toLowerCase().replace(/^(00)+/, ''))?.status), ['revoked', 'valid'], 'both certificates and the revocation survived');
  t.match(wardgate(['audit', 'verify', '-d', dir], env).stdout, /audit log intact/);
  // The lock left by the killed serve is the next one's now: it refuses others as before.
  const init = wardgate(initArgs(dir), env);
  t.match(init.stderr, LOCKED_BY_SERVE(next.child.pid));
  next.child.kill('SIGKILL');
  await next.exited;
  const rollover = wardgate(['ca', 'rollover', '-d', dir], env);
  t.equal(rollover.status, 0, `after a second kill -9, rollover runs without cleanup ${rollover.stderr}`);
});

t.test('an init started while another builds the same new data dir is refused; the first one completes', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const { first, second, firstPid } = await secondWhileFirstBuilds(t, dir, initArgs(dir));
  t.equal(second.status, 1, 'the second exits 1');
  t.match(second.stderr, new RegExp(`^wardgate: error \\[DATA_DIR_LOCKED\\]: data dir \\S+ is in use by wardgate init, pid ${firstPid}\\b[^\\n]*\\n$`), `the second is refused in one line: ${second.stderr.trim()}`);
  t.equal(first.status, 0, `the first init completes ${first.stderr}`);
  await assertCompleteCa(t, dir, TEST_PASSPHRASE, 0, 'the CA');
  t.same(readdirSync(dir).sort(), ['ca', 'wardgate.db'], 'nothing else is left in the data dir');
});

t.test('a restore started while another fills the same new data dir is refused; the first one completes', async (t) => {
  // Rows enough that unpacking takes a while after the staging dir appears.
  const { ca, dir: source, work } = await testCa(t);
  fillStore(ca.store as never, 5000);
  ca.close();
  const archive = join(work, 'b.wgb');
  t.equal(wardgate(['backup', '-d', source, '--out', archive], env).status, 0);
  const dir = join(work, 'restored');
  const { first, second, firstPid } = await secondWhileFirstBuilds(t, dir, ['restore', '-d', dir, '--from', archive]);
  t.equal(second.status, 1, 'the second exits 1');
  t.match(second.stderr, new RegExp(`^wardgate: error \\[DATA_DIR_LOCKED\\]: data dir \\S+ is in use by wardgate restore, pid ${firstPid}\\b[^\\n]*\\n$`), `the second is refused in one line: ${second.stderr.trim()}`);
  t.equal(first.status, 0, `the first restore completes ${first.stderr}`);
  await assertCompleteCa(t, dir, TEST_PASSPHRASE, 5000, 'the restored CA');
  t.same(readdirSync(dir).sort(), ['ca', 'wardgate.db'], 'nothing else is left in the data dir');
});
