/**
 * The bulk path alone: one large C-STORE (storescu +tls, PDU size 128 KiB) through wardgate gateways
 * built from one or more source trees, stunnel4, and bare Node.js TLS relays (bare-relay.ts, plain and
 * forwarding the way the gateway does) to the same storescp, interleaved round by round. Reports each
 * relay's CPU seconds per GiB (utime+stime from /proc): on a shared 2-core host that is what the relay
 * costs, where MiB/s also carries everyone else's load. Used to compare a change against HEAD in the
 * same minutes:
 *
 *   git worktree add /tmp/base HEAD && ln -s $PWD/node_modules /tmp/base/
 *   node --import tsx bench/proxy/stream.ts --tree base=/tmp/base --tree new=.
 *
 * Options: --tree NAME=DIR (repeatable; default: this tree), --rounds N (5), --mib N (256),
 * --host A.B.C.D (listen address, default 127.40.0.5), --cpu-prof DIR (profile each gateway; the
 * profiles are written when it is stopped), --no-peers (skip stunnel and the bare relays),
 * --relay NAME=FILE (repeatable: another relay script taking bare-relay.ts's arguments).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../src/net/free-port.ts';
import { writeDicomFile } from '../../test/proxy/fixtures/dicom-file.ts';
import { benchPki } from './pki.ts';
import { bin, children, cpuSeconds, cpuTimes, run, start, waitPort } from './processes.ts';

const { values: opts } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '5' },
    mib: { type: 'string', default: '256' },
    host: { type: 'string', default: '127.40.0.5' },
    'cpu-prof': { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    relay: { type: 'string', multiple: true },
  },
});
const MIB = Number(opts.mib);
const ROUNDS = Number(opts.rounds);
const HOST = opts.host!;
const trees = (opts.tree ?? [`wardgate=${join(import.meta.dirname, '..', '..')}`]).map((t) => {
  const [name, dir] = t.split('=');
  return { name, dir: resolve(dir) };
});

const work = mkdtempSync(join(tmpdir(), 'wardgate-stream-'));
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

async function main(): Promise<void> {
  const { ca, issue } = await benchPki(work);
  const trust = join(work, 'trust.pem');
  writeFileSync(trust, [ca.rootPem, ca.issuerPem(ca.activeIssuerInfo('ecdsa').id)].join('\n'));
  const server = await issue('proxy', [HOST]);
  const client = await issue('client', ['bench.klinikum.internal']);
  ca.close();

  const storePort = await freePort();
  const backend = await start(bin('storescp'), ['--ignore', '-pdu', '131072', String(storePort)]);
  await waitPort('127.0.0.1', storePort);

  const relays: Array<{ name: string; port: number; proc: ChildProcess; gateway: boolean }> = [];
  for (const t of trees) {
    const port = await freePort();
    const config = join(work, `${t.name}.json`);
    writeFileSync(config, JSON.stringify({ routes: [{ name: 'store', direction: 'inbound', protocol: 'dicom', listen: `${HOST}:${port}`, upstream: `127.0.0.1:${storePort}`, tls: { cert: [server.cert], key: [server.key], ca: trust } }] }));
    const prof = opts['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(opts['cpu-prof'], t.name)] : [];
    const proc = await start(process.execPath, [...prof, '--import', 'tsx', join(t.dir, 'src', 'cli', 'main.ts'), 'proxy', '--config', config], /route store inbound/);
    relays.push({ name: t.name, port, proc, gateway: true });
  }
  if (!opts['no-peers']) {
    const sport = await freePort();
    const conf = join(work, 'stunnel.conf');
    writeFileSync(conf, `foreground = yes\npid =\ndebug = 3\n[store]\naccept = ${HOST}:${sport}\nconnect = 127.0.0.1:${storePort}\ncert = ${server.cert}\nkey = ${server.key}\nCAfile = ${trust}\nverifyChain = yes\nrequireCert = yes\nsslVersionMin = TLSv1.2\n`);
    relays.push({ name: 'stunnel', port: sport, proc: await start(bin('stunnel4'), [conf]), gateway: false });
    for (const [name, mode] of [['bare-node', []], ['bare-pooled', ['pooled']]] as const) {
      const bport = await freePort();
      const bare = await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bare-relay.ts'), `${HOST}:${bport}`, `127.0.0.1:${storePort}`, server.cert, server.key, trust, ...mode], /ready/);
      relays.push({ name, port: bport, proc: bare, gateway: false });
    }
  }
  for (const extra of opts.relay ?? []) {
    const [name, script] = extra.split('=');
    const port = await freePort();
    const proc = await start(process.execPath, ['--import', 'tsx', resolve(script), `${HOST}:${port}`, `127.0.0.1:${storePort}`, server.cert, server.key, trust], /ready/);
    relays.push({ name, port, proc, gateway: false });
  }
  for (const r of relays) await waitPort(HOST, r.port);
  // The suite each relay picks for a client offering OpenSSL's default order (as storescu does).
  const suites = new Map<string, string>();
  for (const r of relays) {
    const s = tls.connect({ host: HOST, port: r.port, ca: readFileSync(trust), cert: readFileSync(client.cert), key: readFileSync(client.key), servername: undefined });
    suites.set(r.name, await new Promise<string>((ok) => s.once('secureConnect', () => ok(s.getCipher().name)).once('error', (e) => ok(`(${e.message})`))));
    s.destroy();
  }

  const file = join(work, 'big.dcm');
  const side = Math.ceil(Math.sqrt(MIB * 1024 * 1024));
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.99.1', rows: side, columns: side });
  const gib = MIB / 1024;
  const samples = new Map(relays.map((r) => [r.name, { cpu: [] as number[], sys: [] as number[], mibs: [] as number[], backend: [] as number[] }]));
  const storescu = (port: number) => run(bin('storescu'), ['+tls', client.key, client.cert, '+cf', trust, '-pdu', '131072', '-aec', 'STORESCP', HOST, String(port), file]);
  await storescu(relays[0].port); // warm-up: JIT, page cache
  for (let round = 1; round <= ROUNDS; round++) {
    for (const r of relays) {
      const cpu0 = cpuTimes(r.proc.pid!);
      const back0 = cpuSeconds(backend.pid!);
      const res = await storescu(r.port);
      if (res.code !== 0) throw new Error(`storescu via ${r.name} failed: ${res.out}`);
      const s = samples.get(r.name)!;
      const cpu1 = cpuTimes(r.proc.pid!);
      s.cpu.push((cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) / gib);
      s.sys.push((cpu1.sys - cpu0.sys) / gib);
      s.backend.push((cpuSeconds(backend.pid!) - back0) / gib);
      s.mibs.push(MIB / (res.ms / 1000));
    }
    process.stderr.write(`  round ${round}/${ROUNDS} done, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const f = (n: number, d = 2) => n.toFixed(d).padStart(10);
  process.stdout.write(`\n${MIB} MiB C-STORE x ${ROUNDS} interleaved rounds; CPU s/GiB of the relay process (median, min), MiB/s (median, max)\nrelay        cpu med   cpu min   (of it sys)  MiB/s med  MiB/s max  storescp s/GiB  suite\n`);
  for (const [name, s] of samples) {
    process.stdout.write(`${name.padEnd(11)}${f(median(s.cpu))}${f(Math.min(...s.cpu))}${f(median(s.sys)).padStart(13)}${f(median(s.mibs), 1)}${f(Math.max(...s.mibs), 1)}${f(median(s.backend)).padStart(16)}  ${suites.get(name)}\n`);
  }
  if (opts['cpu-prof']) {
    for (const r of relays.filter((x) => x.gateway)) {
      r.proc.kill('SIGTERM');
      await new Promise((ok) => r.proc.once('exit', ok));
    }
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`); process.exit(1); });
