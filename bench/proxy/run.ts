/**
 * wardgate vs stunnel4 vs HAProxy, one run, same backends, same certificates (see README.md).
 * Everything listens on 127.40.0.0/24 and 127.0.0.1; nothing leaves loopback.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  DimseMessageAssembler, PduReader, SOP_CLASS, TRANSFER_SYNTAX, decodePdu, encodeAssociateRq, encodeCEchoRq, encodeReleaseRq, fragmentMessage,
} from '../../src/protocols/dicom/index.ts';
import { writeDicomFile } from '../../test/proxy/fixtures/dicom-file.ts';
import { freePort } from '../../src/net/free-port.ts';
import { benchPki } from './pki.ts';
import { bin, children, cpuSeconds, run, start, waitPort, workerPids } from './processes.ts';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = 16;
const ECHOES = 2000;
const work = mkdtempSync(join(tmpdir(), 'wardgate-bench-'));
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', cleanup);

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const RQ = encodeAssociateRq({
  calledAeTitle: 'ECHO', callingAeTitle: 'BENCH',
  presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
  userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.9' },
});

interface Creds { ca: string; cert: string; key: string }

/** One association on a socket: returns a function that sends a C-ECHO and resolves on its response. */
async function openAssociation(host: string, port: number, creds: Creds | undefined) {
  const socket: net.Socket = creds ? tls.connect({ host, port, ...creds, servername: undefined }) : net.connect({ host, port });
  socket.setNoDelay(true);
  const reader = new PduReader();
  const assembler = new DimseMessageAssembler();
  let waiter: ((kind: string) => void) | undefined;
  socket.on('data', (d: Buffer) => {
    for (const raw of reader.push(d)) {
      const pdu = decodePdu(raw);
      if (pdu.kind === 'P-DATA-TF') {
        for (const ev of assembler.push(pdu.value)) if (ev.kind === 'command') waiter?.('echo');
      } else waiter?.(pdu.kind);
    }
  });
  let failure: ((err: Error) => void) | undefined;
  socket.on('error', (err) => failure?.(err));
  const next = () => new Promise<string>((resolve, reject) => {
    waiter = resolve;
    failure = reject;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once(creds ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(RQ);
  const ac = await next();
  if (ac !== 'A-ASSOCIATE-AC') throw new Error(`expected AC, got ${ac}`);
  let id = 1;
  return {
    echo: async () => {
      for (const pdu of fragmentMessage(1, encodeCEchoRq({ messageId: id++ }), undefined, 16384)) socket.write(pdu);
      await next();
    },
    release: async () => {
      socket.write(encodeReleaseRq());
      await next();
      socket.destroy();
    },
  };
}

async function associationsPerSecond(host: string, port: number, creds: Creds): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      const a = await openAssociation(host, port, creds);
      await a.echo();
      await a.release();
      done++;
    }
  }));
  return done / ((Date.now() - t0) / 1000);
}

/**
 * C-ECHO round trips on one association through the proxy and one straight to the backend,
 * alternating, so that both see the same host load; returns both percentiles.
 */
async function echoLatency(host: string, port: number, creds: Creds, backendPort: number): Promise<{ proxied: { p50: number; p99: number }; direct: { p50: number; p99: number } }> {
  const proxied = await openAssociation(host, port, creds);
  const direct = await openAssociation('127.0.0.1', backendPort, undefined);
  const ps: number[] = [];
  const ds: number[] = [];
  const time = async (a: typeof proxied, into: number[]) => {
    const t0 = process.hrtime.bigint();
    await a.echo();
    into.push(Number(process.hrtime.bigint() - t0) / 1e3);
  };
  for (let i = 0; i < ECHOES; i++) {
    await time(direct, ds);
    await time(proxied, ps);
  }
  await proxied.release();
  await direct.release();
  const pct = (xs: number[]) => {
    xs.sort((x, y) => x - y);
    return { p50: xs[Math.floor(xs.length * 0.5)], p99: xs[Math.floor(xs.length * 0.99)] };
  };
  return { proxied: pct(ps), direct: pct(ds) };
}

async function main(): Promise<void> {
  process.stderr.write(`bench: ${MIB} MiB C-STORE, ${SECONDS} s of associations x ${CONCURRENCY} workers, ${ECHOES} echoes per proxy\n`);
  const { ca, issue } = await benchPki(work);
  const trust = join(work, 'trust.pem');
  writeFileSync(trust, [ca.rootPem, ca.issuerPem(ca.activeIssuerInfo('ecdsa').id)].join('\n'));
  const server = await issue('proxy', ['127.40.0.1', '127.40.0.2', '127.40.0.3', '127.40.0.4']);
  const client = await issue('client', ['bench.klinikum.internal']);
  ca.close();
  const creds: Creds = { ca: readFileSync(trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') };

  // Backends.
  const storePort = await freePort();
  const echoPort = await freePort();
  await start(bin('storescp'), ['--ignore', '-pdu', '131072', String(storePort)]);
  await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'echo-scp.ts'), String(echoPort)], /ready/);
  await waitPort('127.0.0.1', storePort);

  // Proxies: each has a store listener and an echo listener.
  const ports = { wardgate: [await freePort(), await freePort()], wardgate2w: [await freePort(), await freePort()], stunnel: [await freePort(), await freePort()], haproxy: [await freePort(), await freePort()] };
  const hosts = { wardgate: '127.40.0.1', wardgate2w: '127.40.0.4', stunnel: '127.40.0.2', haproxy: '127.40.0.3' };
  const wgConfig = join(work, 'wardgate.json');
  const wgRoute = (name: string, port: number, upstream: number, host = hosts.wardgate) => ({ name, direction: 'inbound', protocol: 'dicom', listen: `${host}:${port}`, upstream: `127.0.0.1:${upstream}`, tls: { cert: [server.cert], key: [server.key], ca: trust }, limits: { maxConnectionsPerPeer: 1000 } });
  writeFileSync(wgConfig, JSON.stringify({ routes: [wgRoute('store', ports.wardgate[0], storePort), wgRoute('echo', ports.wardgate[1], echoPort)] }));
  const wg2Config = join(work, 'wardgate-2w.json');
  writeFileSync(wg2Config, JSON.stringify({ routes: [wgRoute('store', ports.wardgate2w[0], storePort, hosts.wardgate2w), wgRoute('echo', ports.wardgate2w[1], echoPort, hosts.wardgate2w)] }));
  const stunnelConf = join(work, 'stunnel.conf');
  const stunnelService = (name: string, port: number, upstream: number) => `[${name}]\naccept = ${hosts.stunnel}:${port}\nconnect = 127.0.0.1:${upstream}\ncert = ${server.cert}\nkey = ${server.key}\nCAfile = ${trust}\nverifyChain = yes\nrequireCert = yes\nsslVersionMin = TLSv1.2\n`;
  writeFileSync(stunnelConf, `foreground = yes\npid =\ndebug = 3\n${stunnelService('store', ports.stunnel[0], storePort)}${stunnelService('echo', ports.stunnel[1], echoPort)}`);
  const haConf = join(work, 'haproxy.cfg');
  const haFront = (name: string, port: number, upstream: number) => `frontend f_${name}\n  bind ${hosts.haproxy}:${port} ssl crt ${server.combined} ca-file ${trust} verify required ssl-min-ver TLSv1.2\n  default_backend b_${name}\nbackend b_${name}\n  server s 127.0.0.1:${upstream}\n`;
  writeFileSync(haConf, `global\n  maxconn 8192\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n${haFront('store', ports.haproxy[0], storePort)}${haFront('echo', ports.haproxy[1], echoPort)}`);
  const procs = {
    wardgate: await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'proxy', '--config', wgConfig], /route echo inbound/),
    wardgate2w: await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'proxy', '--config', wg2Config, '--workers', '2'], /route echo inbound.*2 workers/),
    stunnel: await start(bin('stunnel4'), [stunnelConf]),
    haproxy: await start(bin('haproxy'), ['-f', haConf, '-db']),
  };
  for (const k of ['wardgate', 'wardgate2w', 'stunnel', 'haproxy'] as const) for (const p of ports[k]) await waitPort(hosts[k], p);

  const file = join(work, 'big.dcm');
  const side = Math.ceil(Math.sqrt(MIB * 1024 * 1024));
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.99.1', rows: side, columns: side });

  // Interleaved rounds (A B C A B C ...), best per proxy: the host is shared, so load drifts over a
  // run; interleaving spreads the drift over all three instead of penalising whichever ran last.
  const kinds = ['wardgate', 'wardgate2w', 'stunnel', 'haproxy'] as const;
  const directs: Array<{ p50: number; p99: number }> = [];
  const results = Object.fromEntries(kinds.map((k) => [k, { mibs: 0, cpuPerGib: Infinity, aps: 0, p50: Infinity, p99: Infinity, rss: 0 }])) as Record<(typeof kinds)[number], { mibs: number; cpuPerGib: number; aps: number; p50: number; p99: number; rss: number }>;
  await echoLatency(hosts.wardgate, ports.wardgate[1], creds, echoPort); // warm-up (JIT, backend)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const k of kinds) {
      const cpu0 = cpuSeconds(procs[k].pid!);
      const r = await run(bin('storescu'), ['+tls', client.key, client.cert, '+cf', trust, '-pdu', '131072', '-aec', 'STORESCP', hosts[k], String(ports[k][0]), file]);
      if (r.code !== 0) throw new Error(`storescu via ${k} failed: ${r.out}`);
      const res = results[k];
      res.mibs = Math.max(res.mibs, MIB / (r.ms / 1000));
      // The proxy's own CPU for the stream: what it costs, less exposed to the host's load than MiB/s.
      res.cpuPerGib = Math.min(res.cpuPerGib, (cpuSeconds(procs[k].pid!) - cpu0) / (MIB / 1024));
      res.aps = Math.max(res.aps, await associationsPerSecond(hosts[k], ports[k][1], creds));
      const { proxied, direct } = await echoLatency(hosts[k], ports[k][1], creds, echoPort);
      directs.push(direct);
      res.p50 = Math.min(res.p50, proxied.p50 - direct.p50);
      res.p99 = Math.min(res.p99, proxied.p99 - direct.p99);
    }
    process.stderr.write(`  round ${round} done\n`);
  }
  for (const k of kinds) results[k].rss = peakRssMb(procs[k].pid!);
  // The multi-process gateway's memory is its primary plus its workers.
  results.wardgate2w.rss += workerPids(procs.wardgate2w.pid!).reduce((sum, pid) => sum + peakRssMb(pid), 0);
  const f = (n: number, d = 1) => n.toFixed(d).padStart(9);
  process.stdout.write(`\nbest of ${ROUNDS} interleaved rounds; latency = proxied minus direct, alternating echoes on the same host load\nwardgate2w = wardgate --workers 2 (RSS: primary + workers)\nproxy       MiB/s  CPU s/GiB  assoc/s  +p50 µs  +p99 µs  peak RSS MB\n`);
  for (const [k, r] of Object.entries(results)) process.stdout.write(`${k.padEnd(11)}${f(r.mibs)}${f(r.cpuPerGib, 2).padStart(11)}${f(r.aps)}${f(r.p50, 0)}${f(r.p99, 0)}${f(r.rss, 0)}\n`);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(`direct echo latency (median of ${directs.length} measurements): p50 ${median(directs.map((d) => d.p50)).toFixed(0)} µs, p99 ${median(directs.map((d) => d.p99)).toFixed(0)} µs\n`);
  for (const k of ['wardgate', 'wardgate2w'] as const) {
    const w = results[k];
    process.stdout.write(`ratios ${k}: throughput /stunnel ${(w.mibs / results.stunnel.mibs).toFixed(2)} (goal >= 1.0), /haproxy ${(w.mibs / results.haproxy.mibs).toFixed(2)}; `
      + `CPU per GiB /stunnel ${(w.cpuPerGib / results.stunnel.cpuPerGib).toFixed(2)}, /haproxy ${(w.cpuPerGib / results.haproxy.cpuPerGib).toFixed(2)}; `
      + `assoc/s /haproxy ${(w.aps / results.haproxy.aps).toFixed(2)} (goal >= 0.8), /stunnel ${(w.aps / results.stunnel.aps).toFixed(2)}\n`);
  }
}

main().then(() => { cleanup(); process.exit(0); }, (err) => { process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`); cleanup(); process.exit(1); });
